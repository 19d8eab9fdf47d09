import { describe, expect, it } from "vitest";
import { assessStatus, Verdict } from "../../src/status/assess.js";
import type { ConsumerSample, StatusSample } from "../../src/status/collect.js";
import { SampleWindow } from "../../src/status/sample-window.js";
import { consumer } from "./consumer-sample.js";

const opts = { backlogGrowthMin: 10 };

function sample(
  atMs: number,
  s: { received?: number; processed?: number; completed?: number; failed?: number; replayed?: number } = {},
  nw: Partial<ConsumerSample> = {},
  dispatch: Partial<ConsumerSample> = {},
): StatusSample {
  const { replayed = 0, ...counts } = s;
  const subjects = { received: 0, processed: 0, completed: 0, failed: 0, ...counts };
  return {
    atMs,
    stream: "ORDERS",
    subjects,
    otherSubjects: replayed > 0 ? { "ORDERS.replayed": 2 * replayed } : {},
    replayedDeadLetters: replayed,
    unreplayedDeadLetters: Math.max(0, subjects.failed - replayed),
    messages: subjects.received + subjects.processed + subjects.completed + subjects.failed + 2 * replayed,
    lastSeq: 0,
    consumers: { new: consumer("NEW", nw), dispatch: consumer("DISPATCH", dispatch) },
  };
}

describe("assessStatus", () => {
  it("computes per-stage rates over the window", () => {
    const r = assessStatus(
      [sample(0, { received: 100 }), sample(2000, { received: 300, processed: 50 })],
      opts,
    );
    expect(r.windowMs).toBe(2000);
    expect(r.rates).toEqual({ received: 100, processed: 25, completed: 0, failed: 0 });
    expect(r.verdict).toBe(Verdict.Healthy);
  });

  it("no workers: work queued, nobody waiting, nothing delivered or acked", () => {
    const idle = { numPending: 5, numWaiting: 0, deliveredConsumerSeq: 7, ackFloorStreamSeq: 7 };
    const r = assessStatus([sample(0, {}, idle), sample(1000, {}, idle)], opts);
    expect(r.verdict).toBe(Verdict.NoWorkers);
    expect(r.findings[0]?.consumer).toBe("NEW");
  });

  it("a busy worker with no pull waiting is not 'no workers': it delivered in the window", () => {
    const r = assessStatus(
      [
        sample(0, {}, { numPending: 50, numAckPending: 100, numWaiting: 0, deliveredConsumerSeq: 10 }),
        sample(1000, {}, { numPending: 45, numAckPending: 100, numWaiting: 0, deliveredConsumerSeq: 15 }),
      ],
      opts,
    );
    expect(r.verdict).toBe(Verdict.Healthy);
  });

  it("a stuck worker holding unacked orders counts as no workers", () => {
    const stuck = { numPending: 0, numAckPending: 3, numWaiting: 0, deliveredConsumerSeq: 3 };
    expect(assessStatus([sample(0, {}, stuck), sample(1000, {}, stuck)], opts).verdict).toBe(
      Verdict.NoWorkers,
    );
  });

  it("backlog growing: pending rose by at least backlogGrowthMin while workers pull", () => {
    const r = assessStatus(
      [
        sample(0, {}, {}, { numPending: 100, numWaiting: 0, deliveredConsumerSeq: 10 }),
        sample(1000, {}, {}, { numPending: 110, numWaiting: 0, deliveredConsumerSeq: 12 }),
      ],
      opts,
    );
    expect(r.verdict).toBe(Verdict.BacklogGrowing);
    expect(r.findings[0]?.consumer).toBe("DISPATCH");
    const wobble = assessStatus(
      [
        sample(0, {}, {}, { numPending: 100, deliveredConsumerSeq: 10 }),
        sample(1000, {}, {}, { numPending: 109, deliveredConsumerSeq: 12 }),
      ],
      opts,
    );
    expect(wobble.verdict).toBe(Verdict.Healthy);
  });

  it("failures present, listed after more severe findings", () => {
    const idle = { numPending: 1, numWaiting: 0 };
    const r = assessStatus([sample(0, { failed: 2 }, idle), sample(1000, { failed: 3 }, idle)], opts);
    expect(r.verdict).toBe(Verdict.NoWorkers);
    expect(r.findings.map((f) => f.kind)).toEqual([Verdict.NoWorkers, Verdict.FailuresPresent]);
    expect(r.findings[1]?.message).toContain("3 dead-lettered orders in ORDERS (1 new in the window;");
  });

  it("replayed dead letters are not failures: all replayed is healthy, some replayed counts the rest", () => {
    const all = assessStatus(
      [sample(0, { failed: 3, replayed: 3 }), sample(1000, { failed: 3, replayed: 3 })],
      opts,
    );
    expect(all.verdict).toBe(Verdict.Healthy);
    expect(all.findings).toEqual([]);
    const some = assessStatus(
      [sample(0, { failed: 3, replayed: 1 }), sample(1000, { failed: 4, replayed: 2 })],
      opts,
    );
    expect(some.verdict).toBe(Verdict.FailuresPresent);
    expect(some.findings[0]?.message).toBe(
      "2 dead-lettered orders in ORDERS (1 new in the window; 2 replayed; see `orderflow dead-letters list`)",
    );
  });

  it("one order waiting is singular", () => {
    const idle = { numPending: 1, numWaiting: 0 };
    const r = assessStatus([sample(0, {}, idle), sample(1000, {}, idle)], opts);
    expect(r.findings[0]?.message).toMatch(/^NEW: 1 order waiting and nothing/);
  });

  it("idle, not healthy: nothing pending and nobody pulling on NEW and DISPATCH", () => {
    const nobody = { numWaiting: 0, deliveredConsumerSeq: 4, ackFloorStreamSeq: 4 };
    const r = assessStatus([sample(0, {}, nobody, nobody), sample(3000, {}, nobody, nobody)], opts);
    expect(r.verdict).toBe(Verdict.Idle);
    expect(r.findings).toEqual([
      {
        kind: Verdict.Idle,
        consumers: ["NEW", "DISPATCH"],
        message: "no workers on NEW, DISPATCH (nothing pending, and no pull request waiting for 3.0s)",
      },
    ]);
  });

  it("idle names only the consumer without a worker, and ranks above failures", () => {
    const nobody = { numWaiting: 0 };
    const r = assessStatus(
      [sample(0, { failed: 1 }, {}, nobody), sample(1000, { failed: 1 }, {}, nobody)],
      opts,
    );
    expect(r.verdict).toBe(Verdict.Idle);
    expect(r.findings.map((f) => f.kind)).toEqual([Verdict.Idle, Verdict.FailuresPresent]);
    expect(r.findings[0]?.consumers).toEqual(["DISPATCH"]);
  });

  it("a worker between two pulls is not idle: one end of the window saw its pull request, or it delivered", () => {
    const waiting = assessStatus(
      [sample(0, {}, { numWaiting: 1 }), sample(1000, {}, { numWaiting: 0 })],
      opts,
    );
    expect(waiting.verdict).toBe(Verdict.Healthy);
    const delivered = assessStatus(
      [
        sample(0, {}, { numWaiting: 0, deliveredConsumerSeq: 1 }),
        sample(1000, {}, { numWaiting: 0, deliveredConsumerSeq: 2 }),
      ],
      opts,
    );
    expect(delivered.verdict).toBe(Verdict.Healthy);
    expect(assessStatus([sample(0, {}, { numWaiting: 0 })], opts).verdict).toBe(Verdict.Healthy);
  });

  it("one sample shows failures but no trend", () => {
    const r = assessStatus([sample(0, { failed: 1 }, { numPending: 9, numWaiting: 0 })], opts);
    expect(r.windowMs).toBe(0);
    expect(r.verdict).toBe(Verdict.FailuresPresent);
    expect(r.rates.received).toBe(0);
  });
});

describe("SampleWindow", () => {
  it("keeps the samples of the window plus the newest one older than it", () => {
    const w = new SampleWindow(1000);
    for (const at of [0, 400, 800, 1200, 1600, 2000]) w.add(sample(at));
    expect(w.all().map((s) => s.atMs)).toEqual([800, 1200, 1600, 2000]);
  });
});
