import ms from "ms";
import { formatNumber, plural } from "../common/format.js";
import type { StatusReport } from "./assess.js";
import { Verdict } from "./assess.js";
import type { CheckReadings } from "./check-collect.js";
import type { CheckOptions, Threshold, ThresholdKey } from "./check-options.js";
import type { ConsumerSample } from "./collect.js";

/**
 * Monitoring-plugin states, as Nagios and `nats server check` use them: the exit code is the state's
 * number, the first line of output starts with its name.
 */
export const CheckState = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;
export type CheckStateName = keyof typeof CheckState;
export type CheckStateCode = (typeof CheckState)[CheckStateName];

const NAMES: readonly CheckStateName[] = ["OK", "WARNING", "CRITICAL", "UNKNOWN"];
export const stateName = (code: CheckStateCode): CheckStateName => NAMES[code] as CheckStateName;

/**
 * What a measure is, as JSON and the Prometheus `check` label name it: the threshold it is held
 * against, named for the unit it is reported in (the completion age is in seconds there, while its
 * option is in ms), or `workers`.
 */
export type CheckName = Exclude<ThresholdKey, "completionAgeMs"> | "completionAgeSeconds" | "workers";

/** One measured value, its thresholds and the state they give it. */
export interface CheckMeasure {
  /** Stable name, for perfdata and Prometheus labels: `pending_NEW`, `dead_letters`, … */
  name: string;
  check: CheckName;
  consumer?: string;
  value: number;
  /** `count`, or seconds for ages. */
  unit: "count" | "seconds";
  warn: number;
  critical: number;
  state: CheckStateCode;
  /** Why it is not OK; undefined when it is. */
  problem?: string;
}

/** One stage's verdict: the worst state of its consumer's measures. */
export interface StageCheck {
  /** The stage's name (`processor`, `validator`); its consumer's when the sample does not say. */
  stage: string;
  consumer: string;
  state: CheckStateCode;
  /** Why it is not OK, most severe first; empty when it is. */
  problems: string[];
}

export interface CheckResult {
  state: CheckStateCode;
  /** The first line after the state word. */
  summary: string;
  measures: CheckMeasure[];
  /** Every problem, most severe first. */
  problems: string[];
  /** Each stage's verdict, in pipeline order; empty when the check could not look. */
  stages: StageCheck[];
}

function level(value: number, t: Threshold): CheckStateCode {
  if (t.critical > 0 && value >= t.critical) return CheckState.CRITICAL;
  if (t.warn > 0 && value >= t.warn) return CheckState.WARNING;
  return CheckState.OK;
}

function measure(
  m: Omit<CheckMeasure, "state" | "warn" | "critical" | "problem">,
  t: Threshold,
  describe: (value: string, limit: string) => string,
): CheckMeasure {
  // Ages are thresholded in ms (the options' unit) and shown and exported in seconds.
  const scale = m.unit === "seconds" ? 1000 : 1;
  const limits: Threshold = { warn: t.warn / scale, critical: t.critical / scale };
  const state = level(m.value, limits);
  const limit = state === CheckState.CRITICAL ? limits.critical : limits.warn;
  const shown = (n: number) => (m.unit === "seconds" ? `${Math.round(n)}s` : formatNumber(n));
  return {
    ...m,
    warn: limits.warn,
    critical: limits.critical,
    state,
    problem: state === CheckState.OK ? undefined : describe(shown(m.value), shown(limit)),
  };
}

function consumerMeasures(c: ConsumerSample, o: CheckOptions): CheckMeasure[] {
  return [
    measure(
      { name: `pending_${c.name}`, check: "backlog", consumer: c.name, value: c.numPending, unit: "count" },
      o.backlog,
      (v, l) => `${c.name} backlog ${v} (>= ${l})`,
    ),
    measure(
      {
        name: `ack_pending_${c.name}`,
        check: "ackPending",
        consumer: c.name,
        value: c.numAckPending,
        unit: "count",
      },
      o.ackPending,
      (v, l) => `${c.name} ack pending ${v} (>= ${l})`,
    ),
    measure(
      {
        name: `redelivered_${c.name}`,
        check: "redelivered",
        consumer: c.name,
        value: c.numRedelivered,
        unit: "count",
      },
      o.redelivered,
      (v, l) => `${c.name} redelivering ${v} (>= ${l})`,
    ),
  ];
}

const outstanding = (c: ConsumerSample) => c.numPending + c.numAckPending;

/**
 * Pure: the check's state from a status report (two samples a window apart) and the readings only
 * the check needs. A consumer with work and no worker is CRITICAL: nothing will happen by itself.
 */
export function evaluateCheck(
  report: StatusReport,
  readings: CheckReadings,
  o: CheckOptions,
  nowMs: number,
): CheckResult {
  const consumers = Object.values(report.sample.consumers);
  const measures: CheckMeasure[] = consumers.flatMap((c) => consumerMeasures(c, o));
  const windowText = ms(o.deadLetterWindowMs);
  const replayedText =
    readings.replayedInWindow > 0 ? ` (${formatNumber(readings.replayedInWindow)} more replayed)` : "";
  measures.push(
    measure(
      { name: "dead_letters", check: "deadLetters", value: readings.deadLettersInWindow, unit: "count" },
      o.deadLetters,
      (v, l) =>
        `${v} dead ${plural(readings.deadLettersInWindow, "letter")} in the last ${windowText}${replayedText} (>= ${l})`,
    ),
  );
  const busy = consumers.some((c) => outstanding(c) > 0);
  // An idle pipeline has nothing to complete: the age only counts while orders are outstanding. With
  // no completion ever, work has been waiting since the stream's first message.
  const since = readings.lastCompletionAtMs ?? readings.firstStoredAtMs;
  const ageSeconds = busy && since !== undefined ? Math.max(0, (nowMs - since) / 1000) : 0;
  measures.push(
    measure(
      { name: "last_completion_age", check: "completionAgeSeconds", value: ageSeconds, unit: "seconds" },
      o.completionAgeMs,
      (v, l) =>
        readings.lastCompletionAtMs === undefined
          ? `no order completed yet, orders waiting for ${v} (>= ${l})`
          : `last completion ${v} ago while orders are outstanding (>= ${l})`,
    ),
  );
  for (const f of report.findings) {
    if (f.kind !== Verdict.NoWorkers) continue;
    measures.push({
      name: `no_workers_${f.consumer ?? "unknown"}`,
      check: "workers",
      consumer: f.consumer,
      value: 1,
      unit: "count",
      warn: 0,
      critical: 1,
      state: CheckState.CRITICAL,
      problem: `no workers: ${f.message}`,
    });
  }
  const bad = measures.filter((m) => m.state !== CheckState.OK).sort((a, b) => b.state - a.state);
  const state = (bad[0]?.state ?? CheckState.OK) as CheckStateCode;
  const problems = bad.map((m) => m.problem as string);
  const backlog = consumers.reduce((n, c) => n + c.numPending, 0);
  const summary =
    problems.length === 0
      ? `orderflow ${report.sample.stream}: backlog ${formatNumber(backlog)}, ${formatNumber(readings.deadLettersInWindow)} dead ${plural(readings.deadLettersInWindow, "letter")} in the last ${windowText}${replayedText}`
      : `orderflow ${report.sample.stream}: ${problems.join("; ")}`;
  return { state, summary, measures, problems, stages: stageChecks(consumers, bad) };
}

function stageChecks(consumers: readonly ConsumerSample[], bad: readonly CheckMeasure[]): StageCheck[] {
  return consumers.map((c) => {
    const own = bad.filter((m) => m.consumer === c.name);
    return {
      stage: c.stage ?? c.name,
      consumer: c.name,
      state: (own[0]?.state ?? CheckState.OK) as CheckStateCode,
      problems: own.map((m) => m.problem as string),
    };
  });
}

/** The result when the check could not look: NATS unreachable, a timeout, a refused permission. */
export function unknownCheck(reason: string): CheckResult {
  return {
    state: CheckState.UNKNOWN,
    summary: `orderflow: ${reason}`,
    measures: [],
    problems: [reason],
    stages: [],
  };
}

/** The pipeline is not there (stream or consumer missing): nothing will be processed. */
export function criticalCheck(reason: string): CheckResult {
  return {
    state: CheckState.CRITICAL,
    summary: `orderflow: ${reason}`,
    measures: [],
    problems: [reason],
    stages: [],
  };
}
