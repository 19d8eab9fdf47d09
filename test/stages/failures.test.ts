import { jetstream } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { DeadLetterHeader } from "../../src/stages/dead-letter.js";
import { parseOrderNo } from "../../src/stages/payload.js";
import { defineStage, dispatcherStage, processorStage } from "../../src/stages/stage.js";
import { StageWorker } from "../../src/stages/stage-worker.js";
import { DEFAULT_TOPOLOGY } from "../../src/topology/spec.js";
import { connectTo, publishOrders, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

const t = { ...DEFAULT_TOPOLOGY };

async function readFailed(nc: Awaited<ReturnType<typeof connectTo>>, count: number) {
  const jsm = await jetstream(nc).jetstreamManager();
  const out: Array<{ data: string; headers: Record<string, string> }> = [];
  const info = await jsm.streams.info("ORDERS");
  for (let seq = 1; seq <= info.state.last_seq && out.length < count; seq++) {
    const m = await jsm.streams.getMessage("ORDERS", { seq });
    if (m?.subject !== "ORDERS.failed") continue;
    const headers: Record<string, string> = {};
    for (const k of m.header.keys()) headers[k] = m.header.get(k);
    out.push({ data: new TextDecoder().decode(m.data), headers });
  }
  return out;
}

describe("stage failures", () => {
  it("dead-letters malformed orders once each with their reasons, and completes every good order", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const js = jetstream(nc);
    const workers = [new StageWorker(nc, processorStage(t)), new StageWorker(nc, dispatcherStage(t))];
    for (const w of workers) await w.start();

    const bad: Array<[string, Uint8Array | string]> = [
      ["empty", ""],
      ["not-utf8", new Uint8Array([0x31, 0xff, 0xfe])],
      ["control-char", "12\u0001"],
      ["comma", "7,8"],
      ["too-long", "9".repeat(200)],
    ];
    await publishOrders(nc, 100, { first: 1 });
    for (const [, body] of bad) await js.publish("ORDERS.received", body);
    // The dispatcher refuses what is not <orderNo>,processed (e.g. from a foreign producer).
    await js.publish("ORDERS.processed", "nocomma");
    await js.publish("ORDERS.processed", "5,completed");
    await publishOrders(nc, 100, { first: 101 });

    const counts = await waitFor("good orders completed", async () => {
      const c = await subjectCounts(jsm);
      return c["ORDERS.completed"] === 200 && c["ORDERS.failed"] === 7 ? c : undefined;
    });
    expect(counts["ORDERS.processed"]).toBe(202);

    const failed = await readFailed(nc, 7);
    const reasons = failed.map((f) => f.headers[DeadLetterHeader.Reason]).sort();
    expect(reasons).toEqual([
      "bad-form",
      "bad-form",
      "comma",
      "control-char",
      "empty",
      "not-utf8",
      "too-long",
    ]);
    const tooLong = failed.find((f) => f.headers[DeadLetterHeader.Reason] === "too-long");
    expect(tooLong?.data).toBe("9".repeat(200));
    expect(tooLong?.headers[DeadLetterHeader.Stage]).toBe("processor");
    expect(tooLong?.headers[DeadLetterHeader.SourceSubject]).toBe("ORDERS.received");
    expect(Number(tooLong?.headers[DeadLetterHeader.SourceSeq])).toBeGreaterThan(100);
    expect(failed.find((f) => f.data === "nocomma")?.headers[DeadLetterHeader.Stage]).toBe("dispatcher");
    for (const w of workers) await w.stop();
    expect(workers[0]?.stats().deadLettered).toBe(5);
    expect(workers[1]?.stats().deadLettered).toBe(2);
    for (const name of ["NEW", "DISPATCH"])
      expect((await jsm.consumers.info("ORDERS", name)).num_ack_pending).toBe(0);
  });

  it("retries a failing handler with backoff, completes an order that succeeds on the 2nd try once, and dead-letters after max attempts", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const attempts = new Map<string, number>();
    const stage = defineStage({
      name: "flaky-processor",
      consumer: "NEW",
      outputSubject: "ORDERS.processed",
      outputStage: "processed",
      parse: parseOrderNo,
      handle: async (order) => {
        attempts.set(order.orderNo, (attempts.get(order.orderNo) ?? 0) + 1);
        if (order.orderNo === "always-fails") throw new Error("payment service down");
        if (order.orderNo === "fails-once" && order.deliveryCount === 1)
          throw new Error("timeout talking to ERP");
        return `${order.orderNo},processed`;
      },
    });
    const worker = new StageWorker(nc, stage, { maxAttempts: 3, retryBaseMs: 50 });
    const outcomes: string[] = [];
    worker.on("outcome", (o) => outcomes.push(`${o.orderNo}:${o.kind}`));
    await worker.start();
    const js = jetstream(nc);
    await js.publish("ORDERS.received", "fails-once");
    await js.publish("ORDERS.received", "always-fails");
    await js.publish("ORDERS.received", "fine");

    await waitFor("outcomes settled", async () => {
      const c = await subjectCounts(jsm);
      return c["ORDERS.processed"] === 2 && c["ORDERS.failed"] === 1;
    });
    await worker.stop();
    expect(attempts.get("fails-once")).toBe(2);
    expect(attempts.get("always-fails")).toBe(3);
    expect(attempts.get("fine")).toBe(1);
    expect(outcomes.filter((o) => o === "fails-once:done")).toHaveLength(1);
    expect(outcomes.filter((o) => o === "always-fails:retried")).toHaveLength(2);
    expect(worker.stats()).toMatchObject({ processed: 2, deadLettered: 1, retried: 3 });
    const [dead] = await readFailed(nc, 1);
    expect(dead?.data).toBe("always-fails");
    expect(dead?.headers[DeadLetterHeader.Reason]).toBe("max-attempts");
    expect(dead?.headers[DeadLetterHeader.Error]).toBe("payment service down");
    expect(dead?.headers[DeadLetterHeader.Deliveries]).toBe("3");
    expect(dead?.headers[DeadLetterHeader.OrderNo]).toBe("always-fails");
    expect((await subjectCounts(jsm))["ORDERS.processed"]).toBe(2);
  });

  it("leaves orders for redelivery, never dead-letters, when the output has no stream", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const stage = defineStage({
      ...processorStage(t),
      name: "misrouted",
      outputSubject: "NOWHERE.processed",
    });
    const worker = new StageWorker(nc, stage, { infraRetryMs: 100 });
    await worker.start();
    await publishOrders(nc, 3);
    await waitFor("publish failures seen", () => worker.stats().infraErrors >= 6);
    await worker.stop();
    expect(worker.stats()).toMatchObject({ processed: 0, deadLettered: 0 });
    const c = await subjectCounts(jsm);
    expect(c["ORDERS.failed"]).toBeUndefined();
    const ci = await jsm.consumers.info("ORDERS", "NEW");
    expect(ci.num_pending + ci.num_ack_pending).toBe(3);
  });
});

describe("ack ordering", () => {
  it("acks an input only once its output's PubAck has arrived, and never after a failed one", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    // A responder that stands in for the stream on the output subject, so the test decides when
    // (and how) the PubAck comes back.
    const held: Array<{ respond: (body: string) => boolean }> = [];
    nc.subscribe("HELD.processed", {
      callback: (_err, m) => {
        held.push(m);
      },
    });
    const stage = defineStage({ ...processorStage(t), name: "held", outputSubject: "HELD.processed" });
    const worker = new StageWorker(nc, stage, { pubAckTimeoutMs: 60_000, infraRetryMs: 60_000 });
    await worker.start();
    await publishOrders(nc, 2);
    await waitFor("both outputs published", () => held.length === 2);

    const pending = async () => (await jsm.consumers.info("ORDERS", "NEW")).num_ack_pending;
    expect(await pending()).toBe(2);
    held[0]?.respond('{"stream":"HELD","seq":1}');
    await waitFor("the first input acked", async () => (await pending()) === 1);
    expect(worker.stats()).toMatchObject({ processed: 1, inFlight: 1 });

    held[1]?.respond('{"error":{"code":503,"err_code":10077,"description":"storage full"}}');
    await waitFor("the failure counted", () => worker.stats().infraErrors === 1);
    await worker.stop();
    // Nak'ed with a delay, not acked: it is still owed to the pipeline.
    const ci = await jsm.consumers.info("ORDERS", "NEW");
    expect(ci.num_ack_pending + ci.num_pending).toBe(1);
    expect(worker.stats()).toMatchObject({ processed: 1, deadLettered: 0 });
  });
});
