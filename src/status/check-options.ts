import { UsageError } from "../common/errors.js";

/**
 * Thresholds of `orderflow status --check`. Each pair is "warn at or above", "critical at or above";
 * 0 turns that level off. Declared once here: the CLI builds its flags from CHECK_THRESHOLDS, the
 * table in docs/operations.md is copied from them.
 */
export interface Threshold {
  warn: number;
  critical: number;
}

export interface CheckOptions {
  /**
   * Orders a stage's pull consumer (NEW, DISPATCH in the seed) has not delivered yet, per consumer.
   * Default warn 1,000, critical 10,000.
   */
  backlog: Threshold;
  /** Delivered, not acked, per consumer. Default warn 500, critical 1,000 (the seed's max_ack_pending). */
  ackPending: Threshold;
  /** Messages a consumer is redelivering now. Default warn 10, critical 100. */
  redelivered: Threshold;
  /** Dead letters stored within `deadLetterWindowMs`. Default warn 1, critical 100. */
  deadLetters: Threshold;
  /** How far back dead letters count. Default 15 minutes. */
  deadLetterWindowMs: number;
  /**
   * Age of the newest completion, ms, counted only while orders are outstanding (an idle pipeline has
   * nothing to complete). Default warn 5 minutes, critical 15 minutes.
   */
  completionAgeMs: Threshold;
}

export type ThresholdKey = "backlog" | "ackPending" | "redelivered" | "deadLetters" | "completionAgeMs";

export interface ThresholdSpec {
  key: ThresholdKey;
  /** Flags are `--<flag>-warn` and `--<flag>-critical`. */
  flag: string;
  /** What is measured, for --help. */
  what: string;
  /** A count of messages, or a duration (ms, typed as 5m, 30s …). */
  unit: "count" | "duration";
}

export const CHECK_THRESHOLDS: readonly ThresholdSpec[] = Object.freeze([
  { key: "backlog", flag: "backlog", what: "orders pending, per stage consumer", unit: "count" },
  {
    key: "ackPending",
    flag: "ack-pending",
    what: "orders delivered and not acked, per consumer",
    unit: "count",
  },
  { key: "redelivered", flag: "redelivered", what: "orders being redelivered, per consumer", unit: "count" },
  {
    key: "deadLetters",
    flag: "dead-letters",
    what: "dead letters stored in --dead-letter-window",
    unit: "count",
  },
  {
    key: "completionAgeMs",
    flag: "completion-age",
    what: "age of the last completion while orders are outstanding",
    unit: "duration",
  },
]);

export const DEFAULT_CHECK_OPTIONS: Readonly<CheckOptions> = Object.freeze({
  backlog: Object.freeze({ warn: 1_000, critical: 10_000 }),
  ackPending: Object.freeze({ warn: 500, critical: 1_000 }),
  redelivered: Object.freeze({ warn: 10, critical: 100 }),
  deadLetters: Object.freeze({ warn: 1, critical: 100 }),
  deadLetterWindowMs: 15 * 60_000,
  completionAgeMs: Object.freeze({ warn: 5 * 60_000, critical: 15 * 60_000 }),
});

/** Defaults merged with the caller's values (the caller's object is left alone), then checked. */
export function checkOptions(
  overrides: Partial<Omit<CheckOptions, ThresholdKey>> & { [K in ThresholdKey]?: Partial<Threshold> } = {},
): CheckOptions {
  const o: CheckOptions = {
    ...DEFAULT_CHECK_OPTIONS,
    deadLetterWindowMs: overrides.deadLetterWindowMs ?? DEFAULT_CHECK_OPTIONS.deadLetterWindowMs,
  } as CheckOptions;
  for (const spec of CHECK_THRESHOLDS) {
    const given = overrides[spec.key] ?? {};
    const t: Threshold = {
      warn: given.warn ?? DEFAULT_CHECK_OPTIONS[spec.key].warn,
      critical: given.critical ?? DEFAULT_CHECK_OPTIONS[spec.key].critical,
    };
    for (const level of ["warn", "critical"] as const) {
      if (!Number.isFinite(t[level]) || t[level] < 0) {
        throw new RangeError(`${spec.key}.${level} must be 0 (off) or more, got ${t[level]}`);
      }
    }
    if (t.warn > 0 && t.critical > 0 && t.warn > t.critical) {
      throw new UsageError(
        `--${spec.flag}-warn (${t.warn}) is above --${spec.flag}-critical (${t.critical})`,
        {
          hint: "the warning level must be reached first: lower the warn value or raise the critical one",
        },
      );
    }
    o[spec.key] = t;
  }
  if (!Number.isFinite(o.deadLetterWindowMs) || o.deadLetterWindowMs < 1) {
    throw new RangeError(`deadLetterWindowMs must be at least 1 ms, got ${o.deadLetterWindowMs}`);
  }
  return o;
}
