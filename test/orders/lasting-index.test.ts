import pino from "pino";
import { describe, expect, it } from "vitest";
import { OrderIndexer } from "../../src/orders/order-indexer.js";
import { lookupOrder } from "../../src/orders/order-lookup.js";
import { DEFAULT_TOPOLOGY } from "../../src/topology/spec.js";
import { type BackgroundCli, startCli, waitForLines } from "../helpers/background-cli.js";
import { runCli } from "../helpers/cli.js";
import { connectTo, publishOrders, tempIndexDir, withTopology } from "../helpers/fixtures.js";
import { type NatsServer, startServer } from "../helpers/nats-server.js";

const t = { ...DEFAULT_TOPOLOGY };

function indexer(server: NatsServer, dir: string): BackgroundCli {
  return startCli(["indexer", "-s", server.url, "--index-dir", dir], {
    ORDERFLOW_LOG_LEVEL: "info",
    ORDERFLOW_LOG_FORMAT: "json",
  });
}

/** The JSON log line whose message is `msg`, from the process's stderr. */
function logLine(p: BackgroundCli, msg: string): Record<string, unknown> | undefined {
  for (const line of p.stderr().split("\n")) {
    if (!line.startsWith("{")) continue;
    const parsed = JSON.parse(line) as Record<string, unknown>;
    if (parsed.msg === msg) return parsed;
  }
  return undefined;
}

async function killHard(p: BackgroundCli): Promise<void> {
  p.child.kill("SIGKILL");
  await p.exited;
}

/** Orders `first`..`last` that the index (alone, no scan) does not know. */
async function missing(nc: Awaited<ReturnType<typeof connectTo>>, first: number, last: number) {
  const out: number[] = [];
  for (let n = first; n <= last; n++) {
    const r = await lookupOrder(nc, t, String(n), { scanLast: 0 });
    if (r.entries.length !== 1 || r.coverage.index === undefined) out.push(n);
  }
  return out;
}

describe("the order index on disk", () => {
  it("resumes from its checkpoint after kill -9: no re-read, old and new orders answered", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    await publishOrders(nc, 30_000);
    const dir = tempIndexDir();
    const first = indexer(server, dir);
    expect((await waitForLines(first, 1, "the first indexer ready", 60_000))[0]).toMatch(
      /^order index ready: 30,000 orders from 30,000 messages \(through seq 30,000\)/,
    );
    expect(logLine(first, "order index resumed from its store")).toBeUndefined();
    await killHard(first);

    await publishOrders(nc, 10, { first: 30_001 });
    const again = indexer(server, dir);
    expect((await waitForLines(again, 1, "the restarted indexer ready"))[0]).toMatch(
      /^order index ready: 30,010 orders from 30,010 messages \(through seq 30,010\)/,
    );
    // It started from what it had written, not from the stream's first message.
    expect(logLine(again, "order index resumed from its store")).toMatchObject({ indexedThrough: 30_000 });
    expect(await missing(nc, 1, 5)).toEqual([]);
    expect(await missing(nc, 29_995, 30_010)).toEqual([]);
    expect(await again.interrupt()).toBe(0);
  });

  it("two hosts, each with its own directory: kill either, the other answers every order", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    await publishOrders(nc, 2_000);
    const dirA = tempIndexDir();
    const a = indexer(server, dirA);
    const b = indexer(server, tempIndexDir());
    await waitForLines(a, 1, "host a ready");
    await waitForLines(b, 1, "host b ready");

    await killHard(a);
    expect(await missing(nc, 1, 2_000)).toEqual([]);

    const a2 = indexer(server, dirA);
    await waitForLines(a2, 1, "host a ready again");
    await publishOrders(nc, 100, { first: 2_001 });
    await killHard(b);
    expect(await missing(nc, 1, 2_100)).toEqual([]);
    expect(await a2.interrupt()).toBe(0);
  });

  it("pauses reading while its writes catch up, and resumes without missing a message", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    await publishOrders(nc, 20_000);
    const seen: string[] = [];
    const logger = pino({ level: "debug" }, { write: (line: string) => void seen.push(line) });
    const indexer = new OrderIndexer(
      await connectTo(server, "indexer"),
      t,
      { indexDir: tempIndexDir(), pauseAtPending: 500, batchMessages: 200 },
      { logger },
    );
    await indexer.start();
    await indexer.ready();
    expect(seen.filter((l) => l.includes("paused reading")).length).toBeGreaterThan(0);
    expect(indexer.stats()).toMatchObject({ orders: 20_000, messages: 20_000, indexedThrough: 20_000 });
    for (const n of [1, 499, 500, 501, 10_000, 19_999, 20_000]) {
      expect(await indexer.lookup(String(n))).toEqual([n]);
    }
    await indexer.stop();
  });

  it("a directory already in use is one line naming it and the fix", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    const dir = tempIndexDir();
    const running = indexer(server, dir);
    await waitForLines(running, 1, "the first indexer ready");
    const second = await runCli(["indexer", "-s", server.url, "--index-dir", dir]);
    expect(second.code).toBe(1);
    const lines = second.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(
      `orderflow: cannot open the order index in ${dir}: another orderflow process is using it; give each indexer (each host) its own --index-dir (ORDERFLOW_INDEX_DIR)`,
    );
    expect(await running.interrupt()).toBe(0);
  });
});
