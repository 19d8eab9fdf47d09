import { jetstream } from "@nats-io/jetstream";
import { headers, Match, type Msg, type MsgHdrs } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { publishRun } from "../../src/bench/order-publisher.js";
import { silentLogger } from "../../src/common/logger.js";
import type {
  Delivery,
  DeliverySource,
  DeliverySpan,
  SendFacts,
  SendSpan,
  Tracing,
} from "../../src/common/tracing.js";
import { PublishJobs } from "../../src/dashboard/publish-jobs.js";
import { createStageWorker } from "../../src/runtime/create-stage-worker.js";
import { LateRedeliveries } from "../../src/stages/output-ledger.js";
import { parseOrderNo } from "../../src/stages/payload.js";
import { defineStage } from "../../src/stages/stage.js";
import { connectTo, readStored, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

/** What the worker asked of its tracing, per delivery, in order. */
interface Recorded {
  facts: Delivery & DeliverySource;
  parent: string | undefined;
  orderNo?: string;
  calls: string[];
  outcome?: string;
  reason?: string;
  ranHandler: boolean;
}

/** A Tracing that records, to see what the worker does with it (no SDK involved). */
class RecordingTracing implements Tracing {
  readonly serviceName = "test";
  readonly deliveries: Recorded[] = [];
  /** What was sent outside any delivery (pub, the publish form, the bench's load generator). */
  readonly sent: Array<{ facts: SendFacts; ended: boolean }> = [];
  send(h: MsgHdrs, facts: SendFacts): SendSpan {
    const r = { facts, ended: false };
    this.sent.push(r);
    h.set("traceparent", `00-${"3".repeat(32)}-${"4".repeat(16)}-01`);
    return {
      end: () => {
        r.ended = true;
      },
    };
  }
  process(input: Msg, d: Delivery, source: DeliverySource): DeliverySpan {
    const r: Recorded = {
      facts: { subject: d.subject, seq: d.seq, deliveryCount: d.deliveryCount, ...source },
      parent: input.headers?.get("traceparent", Match.IgnoreCase) || undefined,
      calls: [],
      ranHandler: false,
    };
    this.deliveries.push(r);
    return {
      recording: true,
      run: <T>(fn: () => T): T => {
        r.ranHandler = true;
        return fn();
      },
      setOrderNo: (o) => {
        r.orderNo = o;
      },
      event: (name) => r.calls.push(`event ${name}`),
      failure: () => r.calls.push("failure"),
      send: (h: MsgHdrs, f: SendFacts) => {
        h.set("traceparent", `00-${"1".repeat(32)}-${"2".repeat(16)}-01`);
        r.calls.push(`send ${f.subject} ${f.msgId ?? ""}`);
        return { end: (err?: unknown) => r.calls.push(err === undefined ? "sent" : "send failed") };
      },
      end: (outcome, reason) => {
        r.outcome = outcome;
        r.reason = reason;
      },
      logFields: () => ({ trace_id: "1".repeat(32), span_id: "2".repeat(16) }),
    };
  }
  shutdown(): Promise<void> {
    return Promise.resolve(); // nothing buffered
  }
}

describe("a traced stage worker", () => {
  it("one process span per delivery: retry and redelivery events, the handler inside, outputs carry the context", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const tries = new Map<string, number>();
    const stage = defineStage({
      name: "processor",
      consumer: "NEW",
      outputSubject: "ORDERS.processed",
      outputStage: "processed",
      parse: parseOrderNo,
      handle: async (order) => {
        const n = (tries.get(order.orderNo) ?? 0) + 1;
        tries.set(order.orderNo, n);
        if (order.orderNo === "2" && n === 1) throw new Error("pricing service down");
        return `${order.orderNo},processed`;
      },
    });
    const tracing = new RecordingTracing();
    const worker = await createStageWorker(nc, stage, {
      lateRedeliveries: LateRedeliveries.Publish,
      retryBaseMs: 50,
      tracing,
    });
    await worker.start();
    const js = jetstream(nc);
    const h = headers();
    h.set("Traceparent", `00-${"a".repeat(32)}-${"b".repeat(16)}-01`);
    await js.publish("ORDERS.received", "1", { headers: h });
    await js.publish("ORDERS.received", "2");
    await waitFor("both processed", async () => (await subjectCounts(jsm))["ORDERS.processed"] === 2);
    await waitFor("the last delivery released", () =>
      tracing.deliveries.every((d) => d.outcome !== undefined),
    );
    await worker.stop();

    const of = (orderNo: string) => tracing.deliveries.filter((d) => d.orderNo === orderNo);
    // The input's context is the parent (the real propagator reads it whatever its case).
    expect(of("1")).toEqual([
      expect.objectContaining({
        parent: `00-${"a".repeat(32)}-${"b".repeat(16)}-01`,
        calls: ["send ORDERS.processed 1:processed", "sent"],
        outcome: "done",
        ranHandler: true,
      }),
    ]);
    expect(of("1")[0]?.facts).toMatchObject({
      subject: "ORDERS.received",
      stream: "ORDERS",
      consumer: "NEW",
      deliveryCount: 1,
    });
    const [first, second] = of("2");
    expect(first).toMatchObject({ parent: undefined, calls: ["failure", "event retry"], outcome: "retried" });
    expect(first?.reason).toBe("pricing service down");
    expect(second).toMatchObject({
      outcome: "done",
      calls: ["event redelivery", "send ORDERS.processed 2:processed", "sent"],
    });
    expect(second?.facts.deliveryCount).toBe(2);
    // The output carries the context the send span wrote.
    for (const m of await readStored(nc, "ORDERS.processed")) {
      expect(m.headers.get("traceparent")).toBe(`00-${"1".repeat(32)}-${"2".repeat(16)}-01`);
      expect(m.headers.get("Nats-Msg-Id")).toMatch(/^\d:processed$/);
    }
  });

  it("a dead letter is published under its delivery's span and carries the context", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const stage = defineStage({
      name: "processor",
      consumer: "NEW",
      outputSubject: "ORDERS.processed",
      outputStage: "processed",
      parse: parseOrderNo,
      handle: (order) => `${order.orderNo},processed`,
    });
    const tracing = new RecordingTracing();
    const worker = await createStageWorker(nc, stage, {
      lateRedeliveries: LateRedeliveries.Publish,
      tracing,
    });
    await worker.start();
    await jetstream(nc).publish("ORDERS.received", "bad,order");
    await waitFor("dead-lettered", async () => (await subjectCounts(jsm))["ORDERS.failed"] === 1);
    await waitFor("released", () => tracing.deliveries[0]?.outcome !== undefined);
    await worker.stop();
    expect(tracing.deliveries).toEqual([
      expect.objectContaining({
        calls: [
          "failure",
          "event dead_letter",
          expect.stringMatching(/^send ORDERS\.failed NEW:\d+:failed$/),
          "sent",
        ],
        outcome: "dead-lettered",
        reason: "comma",
        ranHandler: false,
      }),
    ]);
    const [dead] = await readStored(nc, "ORDERS.failed");
    expect(dead?.headers.get("traceparent")).toBe(`00-${"1".repeat(32)}-${"2".repeat(16)}-01`);
  });
});

describe("traced publishers", () => {
  it("the dashboard's publish form and the bench's load generator start a trace per order", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const tracing = new RecordingTracing();
    const form = new PublishJobs(nc, "ORDERS.received", silentLogger, "ORDERS", tracing);
    form.start({ count: 2, template: "5000{{Count}}" });
    await waitFor(
      "the form's orders stored",
      async () => (await subjectCounts(jsm))["ORDERS.received"] === 2,
    );
    await form.stop();
    await publishRun(nc, {
      subject: "ORDERS.received",
      first: 600001,
      count: 3,
      msgIds: true,
      window: 10,
      ratePerSec: 0,
      tracing,
    });
    expect(tracing.sent.map((s) => [s.facts.orderNo, s.facts.msgId, s.ended])).toEqual([
      ["50001", undefined, true],
      ["50002", undefined, true],
      ["600001", "600001:received", true],
      ["600002", "600002:received", true],
      ["600003", "600003:received", true],
    ]);
    for (const m of await readStored(nc, "ORDERS.received")) {
      expect(m.headers.get("traceparent")).toBe(`00-${"3".repeat(32)}-${"4".repeat(16)}-01`);
    }
  });
});
