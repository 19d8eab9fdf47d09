import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { CallbackGuard, callbackErrorCounts } from "../../src/common/callback-guard.js";
import { createLogger } from "../../src/common/logger.js";

/** A guard on a fake clock, and the error lines it logs. */
function guarded(options: { repeatLogMs?: number; maxLinesPerWindow?: number } = {}) {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  let now = 1_000_000;
  const guard = new CallbackGuard(createLogger({ destination }), { ...options, now: () => now });
  return {
    guard,
    lines,
    advance(ms: number) {
      now += ms;
    },
  };
}

// pino writes through the stream asynchronously: let it flush before reading the lines.
const flushed = () => new Promise((r) => setImmediate(r));

describe("callback guard", () => {
  it("logs a different error of the same part, not only the first one", async () => {
    const { guard, lines } = guarded();
    guard.report("processor outcome listener", new Error("first bug"));
    guard.report("processor outcome listener", new Error("first bug"));
    guard.report("processor outcome listener", new TypeError("second bug"));
    await flushed();
    expect(lines.map((l) => l.err)).toEqual(["first bug", "second bug"]);
    expect(guard.counts().get("processor outcome listener")).toBe(3);
  });

  it("logs a repeating error again after the interval, with how many came since", async () => {
    const { guard, lines, advance } = guarded({ repeatLogMs: 60_000 });
    for (let i = 0; i < 5; i++) guard.report("feed", new Error("same"));
    advance(59_999);
    guard.report("feed", new Error("same"));
    await flushed();
    expect(lines).toHaveLength(1);
    advance(1);
    guard.report("feed", new Error("same"));
    await flushed();
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ part: "feed", err: "same", repeats: 6 });
  });

  it("caps the lines per window when every error differs, and says how many it left out", async () => {
    const { guard, lines, advance } = guarded({ repeatLogMs: 1_000, maxLinesPerWindow: 3 });
    for (let seq = 1; seq <= 10; seq++) guard.report("ack", new Error(`seq ${seq} failed`));
    await flushed();
    expect(lines).toHaveLength(3);
    advance(1_000);
    guard.report("ack", new Error("seq 11 failed"));
    await flushed();
    expect(lines[3]).toMatchObject({ err: "seq 11 failed", leftOut: 7 });
  });

  it("keeps each instance's record its own; the process totals add them up for /metrics", async () => {
    const a = guarded();
    const b = guarded();
    const before = callbackErrorCounts().get("shared part") ?? 0;
    a.guard.report("shared part", new Error("boom"));
    b.guard.report("shared part", new Error("boom"));
    await flushed();
    expect(a.lines).toHaveLength(1);
    expect(b.lines).toHaveLength(1);
    expect(a.guard.counts().get("shared part")).toBe(1);
    expect(callbackErrorCounts().get("shared part")).toBe(before + 2);
  });

  it("wraps a callback so it never throws", async () => {
    const { guard, lines } = guarded();
    const cb = guard.wrap("timer", (n: number) => {
      if (n > 1) throw new Error(`too big: ${n}`);
    });
    expect(() => cb(1)).not.toThrow();
    expect(() => cb(2)).not.toThrow();
    await flushed();
    expect(lines.map((l) => l.err)).toEqual(["too big: 2"]);
  });
});
