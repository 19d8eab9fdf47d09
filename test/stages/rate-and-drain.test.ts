import { nanos } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { startCli } from "../helpers/background-cli.js";
import {
  connectTo,
  publishOrders,
  readStored,
  subjectCounts,
  waitSettled,
  withTopology,
} from "../helpers/fixtures.js";
import { logLines, startProcessor, tempModule, text } from "../helpers/handler-worker.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

describe("--rate-limit", () => {
  it("never starts more than the limit in a second, and a backlog longer than the ack wait is never redelivered", async () => {
    const handler = tempModule(
      "stamp.mjs",
      `export default async function (order, ctx) {
  ctx.logger.warn({ startedAt: Date.now(), deliveryCount: ctx.deliveryCount }, "handler started");
  await new Promise((resolve) => setTimeout(resolve, 20));
  return order.orderNo + ",processed";
}
`,
    );
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    // 36 orders at 10/s take about 3.5 s: over three ack waits of 1 s for the last ones to wait.
    await jsm.consumers.update("ORDERS", "NEW", { ack_wait: nanos(1_000) });
    const n = 36;
    const limit = 10;
    await publishOrders(nc, n);
    const worker = await startProcessor(server.url, ["--handler", handler], {
      ORDERFLOW_RATE_LIMIT: `${limit}/s`,
    });
    await waitFor("all processed", async () => (await subjectCounts(jsm))["ORDERS.processed"] === n, {
      timeoutMs: 30_000,
    });
    const starts = logLines(worker).filter((l) => typeof l.startedAt === "number");
    expect(starts).toHaveLength(n);
    expect(starts.map((l) => l.deliveryCount)).toEqual(Array(n).fill(1));
    const perSecond = new Map<number, number>();
    for (const l of starts) {
      const bucket = Math.floor((l.startedAt as number) / 1000);
      perSecond.set(bucket, (perSecond.get(bucket) ?? 0) + 1);
    }
    // The gate admits `limit` per sliding second of the worker's monotonic clock; the handler stamps
    // whole milliseconds of the wall clock, so one start can round into its neighbour's second.
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(limit + 1);
    expect(perSecond.size).toBeGreaterThanOrEqual(Math.ceil(n / (limit + 1)));
    await waitSettled(jsm, "NEW");
    expect((await jsm.consumers.info("ORDERS", "NEW")).num_redelivered).toBe(0);
    expect(await worker.interrupt()).toBe(0);
  });

  it("a rate that is not one is one line and exit 1", async () => {
    const p = startCli(["worker", "processor", "--rate-limit", "fast", "-s", "nats://127.0.0.1:1"]);
    expect(await p.exited).toBe(1);
    const lines = p.stderr().trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/--rate-limit: "fast" is not a rate/);
  });
});

describe("--drain-timeout", () => {
  const waitUnlessAborted = `export default async function (order, ctx) {
  if (process.env.SLOW !== "1") return order.orderNo + ",processed";
  ctx.logger.warn({ started: order.orderNo }, "handler started");
  await new Promise((resolve) => {
    const t = setTimeout(resolve, Number(process.env.SLOW_MS));
    ctx.signal.addEventListener("abort", () => { clearTimeout(t); resolve(); });
  });
  ctx.logger.warn({ finished: order.orderNo, aborted: ctx.signal.aborted }, "handler finished");
  return order.orderNo + ",processed";
}
`;

  it("SIGTERM during long handlers: exits 0 at the drain timeout, and another worker completes every order exactly once", async () => {
    const handler = tempModule("long.mjs", waitUnlessAborted);
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const n = 6;
    await publishOrders(nc, n);
    const first = await startProcessor(server.url, ["--handler", handler, "--drain-timeout", "2s"], {
      SLOW: "1",
      SLOW_MS: "20000",
    });
    await waitFor("every handler started", () => logLines(first).filter((l) => l.started).length === n);
    first.child.kill("SIGTERM");
    // Well under the handlers' 20 s and the previous fixed ~9 s drain; a cap, not a measurement.
    await waitFor("the first worker to exit", () => first.child.exitCode !== null, { timeoutMs: 8_000 });
    expect(await first.exited).toBe(0);
    expect(first.stderr()).toContain("drain timeout: aborting running handlers");
    expect(logLines(first).filter((l) => l.aborted === true)).toHaveLength(n);
    expect((await subjectCounts(jsm))["ORDERS.processed"]).toBeUndefined();

    const second = await startProcessor(server.url, ["--handler", handler]);
    await waitFor("all processed", async () => (await subjectCounts(jsm))["ORDERS.processed"] === n);
    const perOrder = new Map<string, number>();
    for (const m of await readStored(nc, "ORDERS.processed")) {
      const orderNo = text(m.data).split(",")[0] as string;
      perOrder.set(orderNo, (perOrder.get(orderNo) ?? 0) + 1);
    }
    expect([...perOrder.values()]).toEqual(Array(n).fill(1));
    expect(perOrder.size).toBe(n);
    expect(await second.interrupt()).toBe(0);
    expect((await jsm.consumers.info("ORDERS", "NEW")).num_ack_pending).toBe(0);
  });

  it("handlers that end within the drain timeout finish and are acked by the stopping worker", async () => {
    const handler = tempModule("long.mjs", waitUnlessAborted);
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    await publishOrders(nc, 3);
    const worker = await startProcessor(server.url, ["--handler", handler, "--drain-timeout", "20s"], {
      SLOW: "1",
      SLOW_MS: "1500",
    });
    await waitFor("every handler started", () => logLines(worker).filter((l) => l.started).length === 3);
    expect(await worker.interrupt()).toBe(0);
    expect(logLines(worker).filter((l) => l.aborted === false)).toHaveLength(3);
    expect((await subjectCounts(jsm))["ORDERS.processed"]).toBe(3);
    expect((await jsm.consumers.info("ORDERS", "NEW")).num_ack_pending).toBe(0);
  });
});
