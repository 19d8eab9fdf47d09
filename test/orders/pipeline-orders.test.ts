import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { ClassicLevel } from "classic-level";
import pino from "pino";
import { describe, expect, it, onTestFinished } from "vitest";
import { IndexOutputLedger } from "../../src/orders/index-output-ledger.js";
import { orderLookupOptions } from "../../src/orders/lookup-options.js";
import { OrderIndexer } from "../../src/orders/order-indexer.js";
import { askIndex } from "../../src/orders/order-lookup.js";
import { DEFAULT_TOPOLOGY, type TopologyOptions } from "../../src/topology/spec.js";
import { type BackgroundCli, startCli, waitForLines } from "../helpers/background-cli.js";
import { runCli } from "../helpers/cli.js";
import {
  connectTo,
  publishOrders,
  readStored,
  subjectCounts,
  tempIndexDir,
  withTopology,
} from "../helpers/fixtures.js";
import { type NatsServer, startServer } from "../helpers/nats-server.js";
import { SHOP_CONFIG, shopTopology } from "../helpers/pipelines.js";
import { waitFor } from "../helpers/wait.js";

const SHOP_STEPS = ["received", "validated", "reserved", "paid", "shipped", "completed"];
const SLOW = { timeoutMs: 60_000 };

/** `orderflow --config <shop> <args…>` against `server`. */
function shop(server: NatsServer, ...args: string[]) {
  return runCli(["--config", SHOP_CONFIG, ...args, "-s", server.url]);
}

const SHOP_STAGES = ["validator", "reserver", "payer", "shipper", "completer"];

/** `orderflow indexer` with the shop's pipeline, in the background, its log as JSON lines on stderr. */
function shopIndexer(server: NatsServer, dir: string): BackgroundCli {
  return startCli(["--config", SHOP_CONFIG, "indexer", "-s", server.url, "--index-dir", dir], {
    ORDERFLOW_LOG_LEVEL: "info",
    ORDERFLOW_LOG_FORMAT: "json",
  });
}

/**
 * The shop's five stages as `orderflow worker <stage> --config …` processes and its indexer, as
 * an operator runs them (each stage with its file's handler and tuning); `env` goes to the workers.
 */
async function shopPipeline(server: NatsServer, dir: string, env: NodeJS.ProcessEnv = {}) {
  const indexer = shopIndexer(server, dir);
  await waitForLines(indexer, 1, "the shop's indexer ready");
  const workers = SHOP_STAGES.map((stage) =>
    startCli(["--config", SHOP_CONFIG, "worker", stage, "-s", server.url], env),
  );
  return { indexer, workers };
}

/** A payment service that answers `status` to every POST. */
async function paymentService(): Promise<{
  url: string;
  answer: (status: number) => void;
  calls: () => number;
}> {
  let status = 500;
  let calls = 0;
  const srv = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      calls++;
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  onTestFinished(() => new Promise<void>((resolve) => srv.close(() => resolve())));
  const { port } = srv.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/pay`,
    answer: (s) => {
      status = s;
    },
    calls: () => calls,
  };
}

/** Per order, how many messages each subject holds for it, read byte for byte from the stream. */
async function perOrder(
  nc: NatsConnection,
  subjects: readonly string[],
): Promise<Map<string, Record<string, number>>> {
  const out = new Map<string, Record<string, number>>();
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  for (const step of subjects) {
    for (const m of await readStored(nc, `ORDERS.${step}`)) {
      const text = decoder.decode(m.data);
      // A dead letter holds its input (`<orderNo>,reserved` here) and names its order in a header.
      const orderNo = step === "failed" ? (m.headers.get("Orderflow-Order-No") ?? "") : text.split(",")[0];
      const expected =
        step === "failed" ? `${orderNo},reserved` : step === "received" ? orderNo : `${orderNo},${step}`;
      expect(text).toBe(expected);
      const counts = out.get(orderNo as string) ?? {};
      counts[step] = (counts[step] ?? 0) + 1;
      out.set(orderNo as string, counts);
    }
  }
  return out;
}

/** The steps of an `orderflow order` screen, `replay` for a republished input. */
function timelineSteps(stdout: string): string[] {
  return stdout
    .split("\n")
    .filter((l) => /^\s+\d{4}-/.test(l))
    .map((l) => (l.includes("replay of dead letter seq") ? "replay" : (l.trim().split(/\s+/)[2] as string)));
}

/** The order's timeline once the index (not a scan) answers with `events` events. */
async function indexedTimeline(server: NatsServer, orderNo: string, events: number) {
  return waitFor(`order ${orderNo} from the index with ${events} events`, async () => {
    const r = await shop(server, "order", orderNo, "--scan-last", "0");
    return r.code === 0 &&
      r.stdout.includes("order index through seq") &&
      timelineSteps(r.stdout).length === events
      ? r
      : undefined;
  });
}

describe("orders of a declared pipeline (the shop example)", () => {
  it("200 orders complete; `orderflow order` shows six events in order, from the index on disk after a restart", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc, await shopTopology());
    const dir = tempIndexDir();
    const run = await shopPipeline(server, dir);
    const n = 200;
    await publishOrders(nc, n, { first: 1001 });
    await waitFor(
      "200 orders completed",
      async () => (await subjectCounts(jsm))["ORDERS.completed"] === n,
      SLOW,
    );

    const counts = await perOrder(nc, [...SHOP_STEPS, "failed"]);
    expect(counts.size).toBe(n);
    for (const c of counts.values()) expect(c).toEqual(Object.fromEntries(SHOP_STEPS.map((s) => [s, 1])));

    const shown = await indexedTimeline(server, "1042", 6);
    expect(shown.stdout).toMatch(/^order 1042: completed \(6 events in /);
    expect(timelineSteps(shown.stdout)).toEqual(SHOP_STEPS);
    const json = await shop(server, "order", "1042", "--json");
    const doc = JSON.parse(json.stdout) as { state: string; entries: Array<{ stage: string; seq: number }> };
    expect(doc.state).toBe("completed");
    expect(doc.entries.map((e) => e.stage)).toEqual(SHOP_STEPS);
    expect(doc.entries.map((e) => e.seq)).toEqual([...doc.entries.map((e) => e.seq)].sort((a, b) => a - b));
    // The seed's view of the same stream knows only its own steps.
    const seedView = await runCli(["order", "1042", "-s", server.url, "--scan-last", "100000"]);
    expect(timelineSteps(seedView.stdout)).toEqual(["received", "completed"]);
    for (const w of run.workers) expect(await w.interrupt()).toBe(0);
    expect(await run.indexer.interrupt()).toBe(0);

    // The index on disk, reopened by a new indexer: resumed, not rebuilt, and it answers.
    const indexer = shopIndexer(server, dir);
    expect((await waitForLines(indexer, 1, "the indexer ready"))[0]).toMatch(
      /^order index ready: 200 orders from 1,200 messages/,
    );
    expect(indexer.stderr()).toContain("order index resumed from its store");
    expect(indexer.stderr()).not.toContain("built for another pipeline");
    const again = await indexedTimeline(server, "1042", 6);
    expect(timelineSteps(again.stdout)).toEqual(SHOP_STEPS);
    expect(await indexer.interrupt()).toBe(0);
  });

  it("the payer fails: orders are dead-lettered at step three and replay there after the fix, each step exactly once", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc, await shopTopology());
    const payments = await paymentService();
    await shopPipeline(server, tempIndexDir(), { PAYMENT_URL: payments.url });
    const n = 20;
    const js = jetstream(nc);
    for (let i = 1; i <= n; i++) await js.publish("ORDERS.received", `p-${i}`);
    await waitFor(
      "every order dead-lettered at the payer",
      async () => (await subjectCounts(jsm))["ORDERS.failed"] === n,
      SLOW,
    );
    expect((await subjectCounts(jsm))["ORDERS.paid"]).toBeUndefined();

    const listed = await shop(server, "dead-letters", "list", "--json", "--stage", "payer");
    expect(listed.code).toBe(0);
    const doc = JSON.parse(listed.stdout) as { total: number; deadLetters: Array<Record<string, unknown>> };
    expect(doc.total).toBe(n);
    for (const d of doc.deadLetters) {
      expect(d).toMatchObject({
        stage: "payer",
        reason: "max-attempts",
        sourceSubject: "ORDERS.reserved",
        replayed: false,
      });
      expect(d.error).toBe("payment service answered 500");
    }
    expect(new Set(doc.deadLetters.map((d) => d.orderNo))).toEqual(
      new Set(Array.from({ length: n }, (_, i) => `p-${i + 1}`)),
    );
    const elsewhere = await shop(server, "dead-letters", "list", "--json", "--stage", "validator");
    expect(JSON.parse(elsewhere.stdout).total).toBe(0);
    const one = doc.deadLetters.find((d) => d.orderNo === "p-3") as { seq: number };
    const shown = await shop(server, "dead-letters", "show", String(one.seq));
    expect(shown.stdout).toContain("Orderflow-Stage: payer");
    expect(shown.stdout).toContain("Orderflow-Source-Subject: ORDERS.reserved");
    expect(shown.stdout).toMatch(/^payload: p-3,reserved$/m);

    const dry = await shop(server, "dead-letters", "replay", "--stage", "payer", "--dry-run");
    expect(dry.stdout.trim()).toBe(`would replay ${n}, already replayed 0, skipped 0`);
    payments.answer(200);
    const replay = await shop(server, "dead-letters", "replay", "--stage", "payer");
    expect(replay.stderr).toBe("");
    expect(replay.stdout.trim()).toBe(`replayed ${n}, already replayed 0, skipped 0`);
    await waitFor(
      "replayed orders completed",
      async () => (await subjectCounts(jsm))["ORDERS.completed"] === n,
      SLOW,
    );

    // From the stream, byte for byte: the replay entered at step three and nothing before it ran again.
    const counts = await perOrder(nc, [...SHOP_STEPS, "failed"]);
    expect(counts.size).toBe(n);
    for (const c of counts.values()) {
      expect(c).toEqual({
        received: 1,
        validated: 1,
        reserved: 2,
        failed: 1,
        paid: 1,
        shipped: 1,
        completed: 1,
      });
    }
    const reserved = await readStored(nc, "ORDERS.reserved");
    expect(reserved.filter((m) => m.headers.has("Orderflow-Replay-Of"))).toHaveLength(n);

    const timeline = await indexedTimeline(server, "p-3", 8);
    expect(timeline.stdout).toMatch(/^order p-3: completed \(8 events in /);
    expect(timeline.stdout).toContain("max-attempts: payment service answered 500 (payer, input seq");
    expect(timelineSteps(timeline.stdout)).toEqual([
      "received",
      "validated",
      "reserved",
      "failed",
      "replay",
      "paid",
      "shipped",
      "completed",
    ]);
    const twice = await shop(server, "dead-letters", "replay", "--stage", "payer");
    expect(twice.stdout.trim().split("\n").at(-1)).toBe(`replayed 0, already replayed ${n}, skipped 0`);
  });
});

/** Five orders through every shop step, published as the stages would (no workers needed). */
async function publishShopRun(nc: NatsConnection): Promise<void> {
  const js = jetstream(nc);
  for (let i = 1; i <= 5; i++) {
    for (const step of SHOP_STEPS)
      await js.publish(`ORDERS.${step}`, step === "received" ? `${i}` : `${i},${step}`);
  }
}

/** An indexer with `t`'s pipeline on `dir`, started and caught up; its log lines kept. */
async function indexerOn(server: NatsServer, t: TopologyOptions, dir: string) {
  const log: string[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void log.push(line) });
  const nc = await connectTo(server, "indexer");
  const indexer = new OrderIndexer(nc, t, { indexDir: dir }, { logger });
  await indexer.start();
  await indexer.ready();
  const stages = async (orderNo: string) => {
    const { reply } = await askIndex(nc, orderLookupOptions(), orderNo, 30);
    return reply?.stages;
  };
  return { indexer, log, stages, rebuilt: () => log.some((l) => l.includes("built for another pipeline")) };
}

/** Removes the step list from the index's checkpoint: an index as written before it was kept. */
async function asLegacyIndex(dir: string): Promise<void> {
  const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: "buffer", valueEncoding: "buffer" });
  const key = Buffer.from([0xff, ...Buffer.from("checkpoint")]);
  const stored = JSON.parse(((await db.get(key)) as Buffer).toString("utf8")) as Record<string, unknown>;
  expect([undefined, "received,processed,completed"]).toContain(
    (stored.steps as string[] | undefined)?.join(),
  );
  delete stored.steps;
  await db.put(key, Buffer.from(JSON.stringify(stored)));
  await db.close();
}

describe("the order index on disk across pipelines", () => {
  it("an index built for the seed, reopened with the shop's pipeline, is rebuilt, not misread; the seed's own resumes", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    await publishShopRun(nc);
    const seedT = { ...DEFAULT_TOPOLOGY };
    const shopT = await shopTopology();
    const dir = tempIndexDir();

    const seed = await indexerOn(server, seedT, dir);
    // The seed records its own steps only: the shop's are other subjects to it.
    expect(await seed.stages("3")).toEqual(["received", "completed"]);
    expect(seed.indexer.stats()).toMatchObject({ orders: 5, messages: 10, indexedThrough: 30 });
    await seed.indexer.stop();

    // An index written before the step list was kept is the seed's: it resumes, nothing re-read.
    await asLegacyIndex(dir);
    const legacy = await indexerOn(server, seedT, dir);
    expect(legacy.rebuilt()).toBe(false);
    expect(legacy.log.some((l) => l.includes("order index resumed from its store"))).toBe(true);
    expect(await legacy.stages("3")).toEqual(["received", "completed"]);
    await legacy.indexer.stop();
    await asLegacyIndex(dir);

    // Read with the shop's step codes, the seed's `completed` (code 2) would be `reserved`.
    const shopIndex = await indexerOn(server, shopT, dir);
    expect(shopIndex.rebuilt()).toBe(true);
    expect(await shopIndex.stages("3")).toEqual(SHOP_STEPS);
    expect(shopIndex.indexer.stats()).toMatchObject({ orders: 5, messages: 30, indexedThrough: 30 });
    await shopIndex.indexer.stop();

    // Reopened with the same pipeline: resumed, not rebuilt.
    const shopAgain = await indexerOn(server, shopT, dir);
    expect(shopAgain.rebuilt()).toBe(false);
    expect(shopAgain.log.some((l) => l.includes("order index resumed from its store"))).toBe(true);
    expect(await shopAgain.stages("3")).toEqual(SHOP_STEPS);
    await shopAgain.indexer.stop();

    // And back to the seed: rebuilt again, the shop's steps are no longer recorded.
    const seedAgain = await indexerOn(server, seedT, dir);
    expect(seedAgain.rebuilt()).toBe(true);
    expect(await seedAgain.stages("3")).toEqual(["received", "completed"]);
    await seedAgain.indexer.stop();
  });
});

describe("the stages' output ledger across pipelines", () => {
  it("an index run with another pipeline cannot vouch for a step it does not record; one with this pipeline can", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    await publishShopRun(nc);
    const shopT = await shopTopology();
    const ledger = new IndexOutputLedger(await connectTo(server, "worker"), shopT);
    const validated = { orderNo: "3", outputSubject: "ORDERS.validated", afterSeq: 13 };

    const seed = await indexerOn(server, { ...DEFAULT_TOPOLOGY }, tempIndexDir());
    // Not "no output" (a second one would be published): the seed's index never read ORDERS.validated.
    expect(await ledger.hasOutput(validated)).toBeUndefined();
    await seed.indexer.stop();

    const shopIndex = await indexerOn(server, shopT, tempIndexDir());
    expect(await ledger.hasOutput(validated)).toBe(true);
    expect(await ledger.hasOutput({ ...validated, afterSeq: 14 })).toBe(false);
    await shopIndex.indexer.stop();
  });
});
