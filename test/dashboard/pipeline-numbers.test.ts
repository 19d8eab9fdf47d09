import { describe, expect, it } from "vitest";
import { E2eLatencyTracker } from "../../src/dashboard/e2e-latency.js";
import { ThroughputHistory } from "../../src/dashboard/throughput-history.js";
import type { OrderEvent } from "../../src/monitor/order-event.js";
import { assessStatus, Verdict } from "../../src/status/assess.js";
import { type StatusSample, sampledSubjects, stageKeys } from "../../src/status/collect.js";
import { DEFAULT_TOPOLOGY } from "../../src/topology/spec.js";
import { shopTopology } from "../helpers/pipelines.js";
import { consumer } from "../status/consumer-sample.js";

const event = (stage: string, orderNo: string, ms: number) =>
  ({
    stage,
    orderNo,
    time: new Date(ms),
    seq: 0,
    subject: "",
    payload: "",
    pending: 0,
  }) as unknown as OrderEvent;

describe("the dashboard's numbers for a declared pipeline", () => {
  it("keys stages by name (the seed's as new and dispatch) and counts every step, then failed", async () => {
    const shop = await shopTopology();
    expect(stageKeys(DEFAULT_TOPOLOGY)).toEqual(["new", "dispatch"]);
    expect(stageKeys(shop)).toEqual(["validator", "reserver", "payer", "shipper", "completer"]);
    expect(sampledSubjects(DEFAULT_TOPOLOGY)).toEqual(["received", "processed", "completed", "failed"]);
    expect(sampledSubjects(shop)).toEqual([
      "received",
      "validated",
      "reserved",
      "paid",
      "shipped",
      "completed",
      "failed",
    ]);
  });

  it("end-to-end latency runs from the intake step to the final one, whatever their names", () => {
    const seen: number[] = [];
    const t = new E2eLatencyTracker((ms) => seen.push(ms), 100, { intake: "placed", final: "delivered" });
    t.onEvent(event("placed", "a", 1_000));
    t.onEvent(event("packed", "a", 1_010));
    t.onEvent(event("completed", "a", 1_020)); // not this pipeline's final step
    t.onEvent(event("delivered", "a", 1_500));
    t.onEvent(event("placed", "b", 2_000));
    t.onEvent(event("failed", "b", 2_100));
    t.onEvent(event("delivered", "b", 2_200)); // b was dead-lettered: no latency
    expect(seen).toEqual([500]);
    expect(t.waiting).toBe(0);
  });

  it("throughput has a series per step of the pipeline, gaps included", async () => {
    const subjects = sampledSubjects(await shopTopology());
    const h = new ThroughputHistory(60_000, subjects);
    const sample = (atMs: number, paid: number) =>
      ({ atMs, subjects: { received: 2 * paid, paid } }) as unknown as StatusSample;
    h.add(sample(1_000, 0));
    const p = h.add(sample(3_000, 100));
    expect(p).toEqual({
      t: 3,
      received: 100,
      validated: 0,
      reserved: 0,
      paid: 50,
      shipped: 0,
      completed: 0,
      failed: 0,
    });
    expect(Object.keys(h.gap(4_000))).toEqual(["t", ...subjects]);
  });

  it("judges every stage's consumer, in pipeline order", () => {
    const names = ["VALIDATE", "RESERVE", "PAY", "SHIP", "COMPLETE"];
    const sample = (atMs: number, waiting: number): StatusSample => ({
      atMs,
      stream: "ORDERS",
      subjects: Object.fromEntries(
        ["received", "validated", "reserved", "paid", "shipped", "completed", "failed"].map((s) => [s, 0]),
      ),
      otherSubjects: {},
      messages: 0,
      replayedDeadLetters: 0,
      unreplayedDeadLetters: 0,
      lastSeq: 0,
      consumers: Object.fromEntries(
        names.map((n) => [
          n.toLowerCase(),
          consumer(
            n,
            n === "PAY" ? { numPending: 3, numWaiting: 0 } : { numWaiting: n === "RESERVE" ? waiting : 0 },
          ),
        ]),
      ),
    });
    const r = assessStatus([sample(0, 1), sample(1_000, 1)], { backlogGrowthMin: 10 });
    expect(r.verdict).toBe(Verdict.NoWorkers);
    expect(r.findings.map((f) => [f.kind, f.consumer ?? f.consumers])).toEqual([
      [Verdict.NoWorkers, "PAY"],
      [Verdict.Idle, ["VALIDATE", "SHIP", "COMPLETE"]],
    ]);
    expect(Object.keys(r.consumerRates)).toEqual(names.map((n) => n.toLowerCase()));
    expect(Object.keys(r.rates)).toHaveLength(7);
  });
});
