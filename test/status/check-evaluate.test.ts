import { describe, expect, it } from "vitest";
import { assessStatus } from "../../src/status/assess.js";
import { CheckState, evaluateCheck } from "../../src/status/check.js";
import { checkOptions } from "../../src/status/check-options.js";
import type { ConsumerSample, StatusSample } from "../../src/status/collect.js";
import { consumer } from "./consumer-sample.js";

function report(nw: Partial<ConsumerSample> = {}) {
  const sample: StatusSample = {
    atMs: 0,
    stream: "ORDERS",
    subjects: { received: 0, processed: 0, completed: 0, failed: 0 },
    otherSubjects: {},
    messages: 0,
    replayedDeadLetters: 0,
    unreplayedDeadLetters: 0,
    lastSeq: 0,
    consumers: { new: consumer("NEW", nw), dispatch: consumer("DISPATCH") },
  };
  return assessStatus([sample], { backlogGrowthMin: 10 });
}

const MIN = 60_000;
const now = 100 * MIN;

describe("evaluateCheck", () => {
  it("judges the age of the last completion only while orders are outstanding", () => {
    const o = checkOptions();
    const stale = {
      deadLettersInWindow: 0,
      replayedInWindow: 0,
      lastCompletionAtMs: now - 20 * MIN,
      firstStoredAtMs: 0,
    };
    expect(evaluateCheck(report(), stale, o, now).state).toBe(CheckState.OK);
    const busy = evaluateCheck(report({ numAckPending: 3 }), stale, o, now);
    expect(busy.state).toBe(CheckState.CRITICAL);
    expect(busy.problems).toEqual(["last completion 1200s ago while orders are outstanding (>= 900s)"]);
    const warn = evaluateCheck(
      report({ numPending: 3 }),
      { ...stale, lastCompletionAtMs: now - 6 * MIN },
      o,
      now,
    );
    expect(warn.state).toBe(CheckState.WARNING);
    const never = evaluateCheck(
      report({ numPending: 3 }),
      {
        deadLettersInWindow: 0,
        replayedInWindow: 0,
        lastCompletionAtMs: undefined,
        firstStoredAtMs: now - 16 * MIN,
      },
      o,
      now,
    );
    expect(never.problems).toEqual(["no order completed yet, orders waiting for 960s (>= 900s)"]);
  });

  it("takes the most severe level, and 0 turns a level off", () => {
    const readings = {
      deadLettersInWindow: 150,
      replayedInWindow: 0,
      lastCompletionAtMs: now,
      firstStoredAtMs: 0,
    };
    const r = evaluateCheck(report({ numRedelivered: 20 }), readings, checkOptions(), now);
    expect(r.state).toBe(CheckState.CRITICAL);
    expect(r.problems).toEqual(["150 dead letters in the last 15m (>= 100)", "NEW redelivering 20 (>= 10)"]);
    const off = checkOptions({
      deadLetters: { warn: 0, critical: 0 },
      redelivered: { warn: 0, critical: 0 },
    });
    expect(evaluateCheck(report({ numRedelivered: 20 }), readings, off, now).state).toBe(CheckState.OK);
  });
});
