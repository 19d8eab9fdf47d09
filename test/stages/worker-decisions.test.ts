import { describe, expect, it } from "vitest";
import { HandlerFailures } from "../../src/stages/handler-failures.js";
import { parseStartRate, StartGate } from "../../src/stages/start-gate.js";
import {
  ackWaitMs,
  DEFAULT_STAGE_WORKER_OPTIONS,
  duplicateWindowMs,
  retryDelayMs,
  stageWorkerOptions,
} from "../../src/stages/worker-options.js";

describe("the retry budget", () => {
  it("counts only handler failures, per input, and forgets an input that ended", () => {
    const f = new HandlerFailures();
    expect(f.of(7)).toBe(0);
    f.record(7, 1);
    f.record(7, 2);
    f.record(9, 1);
    expect(f.of(7)).toBe(2);
    expect(f.of(9)).toBe(1);
    f.forget(7);
    expect(f.of(7)).toBe(0);
    expect(f.size).toBe(1);
  });

  it("is bounded: past its limit the oldest record goes, the recently failed stay", () => {
    const f = new HandlerFailures(3);
    f.record(1, 1);
    f.record(2, 1);
    f.record(3, 1);
    f.record(1, 2); // failed again: now the newest
    f.record(4, 1);
    expect(f.size).toBe(3);
    expect(f.of(2)).toBe(0);
    expect([f.of(1), f.of(3), f.of(4)]).toEqual([2, 1, 1]);
  });
});

describe("retry delays", () => {
  it("double per attempt from the base and stop at the cap", () => {
    const o = { retryBaseMs: 500, retryMaxMs: 30_000 };
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => retryDelayMs(o, n))).toEqual([
      500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000,
    ]);
    expect(retryDelayMs(o, 0)).toBe(500);
    expect(retryDelayMs(o, 200)).toBe(30_000);
  });

  it("read the server's nanoseconds, with its defaults for 0 or missing", () => {
    expect(ackWaitMs(5_000_000_000)).toBe(5_000);
    expect(ackWaitMs(0)).toBe(30_000);
    expect(ackWaitMs(undefined)).toBe(30_000);
    expect(duplicateWindowMs(3_000_000_000)).toBe(3_000);
    expect(duplicateWindowMs(undefined)).toBe(120_000);
  });
});

describe("stage worker options", () => {
  it("lay the caller's options over the defaults without changing either", () => {
    const given = { batch: 10, maxAttempts: undefined };
    const o = stageWorkerOptions(given);
    expect(o.batch).toBe(10);
    expect(o.maxAttempts).toBe(DEFAULT_STAGE_WORKER_OPTIONS.maxAttempts);
    expect(given).toEqual({ batch: 10, maxAttempts: undefined });
    expect(Object.isFrozen(DEFAULT_STAGE_WORKER_OPTIONS)).toBe(true);
  });

  it.each([
    [{ batch: 0 }, "batch must be a positive whole number"],
    [{ maxAttempts: 1.5 }, "maxAttempts must be a positive whole number"],
    [{ ackWaitMs: -1 }, "ackWaitMs must be a positive whole number"],
    [{ concurrency: -1 }, "concurrency must be a whole number"],
    [{ drainTimeoutMs: 0.5 }, "drainTimeoutMs must be a whole number"],
    [{ batch: 500, maxInFlight: 100 }, "batch (500) must not exceed maxInFlight (100)"],
    [{ lateRedeliveries: "maybe" as never }, "lateRedeliveries must be verify or publish"],
  ])("refuse %j with one line", (bad, message) => {
    expect(() => stageWorkerOptions(bad)).toThrow(message);
  });

  it("take 0 for no concurrency limit and no drain wait", () => {
    expect(stageWorkerOptions({ concurrency: 0, drainTimeoutMs: 0 })).toMatchObject({
      concurrency: 0,
      drainTimeoutMs: 0,
    });
  });
});

describe("the start gate (--rate-limit)", () => {
  it("reads rates per second and per minute, and nothing else", () => {
    expect(parseStartRate("50/s")).toEqual({ limit: 50, windowMs: 1_000 });
    expect(parseStartRate(" 600 / m ")).toEqual({ limit: 600, windowMs: 60_000 });
    expect(parseStartRate("50")).toEqual({ limit: 50, windowMs: 1_000 });
    expect(parseStartRate("50/h")).toBeUndefined();
    expect(parseStartRate("fast")).toBeUndefined();
  });

  it("admits at most `limit` starts in any sliding window, and says when the next one is free", () => {
    let now = 0;
    const gate = new StartGate({ limit: 2, windowMs: 1_000 }, () => now);
    expect(gate.tryTake()).toBe(true);
    now = 400;
    expect(gate.tryTake()).toBe(true);
    expect(gate.tryTake()).toBe(false);
    expect(gate.waitMs()).toBe(600);
    now = 999;
    expect(gate.tryTake()).toBe(false);
    now = 1_000;
    expect(gate.waitMs()).toBe(0);
    expect(gate.tryTake()).toBe(true);
    // The start at 400 still holds the window: no third start inside 400..1400.
    expect(gate.tryTake()).toBe(false);
    expect(gate.waitMs()).toBe(400);
  });

  it("refuses a limit below one", () => {
    expect(() => new StartGate({ limit: 0, windowMs: 1_000 })).toThrow(RangeError);
  });
});
