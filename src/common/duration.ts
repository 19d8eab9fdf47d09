import ms from "ms";
import { UsageError } from "./errors.js";

/**
 * Durations as operators type them: what `ms` reads (`1s`, `250ms`, `1.5m`, `2h`) and the Go form the
 * nats CLI prints and the seed shows (`2m0s`, `1m30s`), so a value copied from `nats stream info` works.
 */
const GO_PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
const GO_UNIT_MS: Readonly<Record<string, number>> = Object.freeze({
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
});

function parseGoDuration(value: string): number | undefined {
  GO_PART.lastIndex = 0;
  let total = 0;
  let parts = 0;
  while (GO_PART.lastIndex < value.length) {
    const m = GO_PART.exec(value);
    if (!m) return undefined;
    total += Number(m[1]) * (GO_UNIT_MS[m[2] as string] as number);
    parts++;
  }
  return parts > 0 ? total : undefined;
}

/** Milliseconds of a duration, or undefined when the text is not one. */
export function durationMs(value: string): number | undefined {
  const text = value.trim();
  if (text === "") return undefined;
  const viaMs = (ms as (s: string) => number | undefined)(text);
  if (typeof viaMs === "number" && Number.isFinite(viaMs)) return viaMs;
  return parseGoDuration(text);
}

/**
 * A commander parser for a duration flag: `--sleep 1s`. Negative values are refused; a bare number
 * is milliseconds (as `ms` reads it).
 */
export function durationFlag(name: string, { min = 0 } = {}): (v: string) => number {
  return (v: string) => parseDurationFlag(name, v, min);
}

export function parseDurationFlag(name: string, value: string, min = 0): number {
  const n = durationMs(value);
  if (n === undefined) {
    throw new UsageError(`--${name}: "${value}" is not a duration`, {
      hint: "use a number with a unit, e.g. 1s, 250ms, 1m30s",
    });
  }
  if (n < min) throw new UsageError(`--${name} must be at least ${min} ms, got "${value}"`);
  return n;
}
