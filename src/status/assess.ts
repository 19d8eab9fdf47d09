import { formatNumber, plural } from "../common/format.js";
import { Stage } from "../topology/spec.js";
import type { ConsumerSample, StatusSample } from "./collect.js";
import type { StatusOptions } from "./status-options.js";

/** The verdicts, most severe first: the report's verdict is its most severe finding. */
export const Verdict = {
  NoWorkers: "no-workers",
  BacklogGrowing: "backlog-growing",
  Idle: "idle",
  FailuresPresent: "failures-present",
  Healthy: "healthy",
} as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

// Idle ranks above failures: a dead letter stays in the stream for good, while "nobody would
// take the next order" is what the pipeline is like now.
const SEVERITY: readonly Verdict[] = [
  Verdict.NoWorkers,
  Verdict.BacklogGrowing,
  Verdict.Idle,
  Verdict.FailuresPresent,
  Verdict.Healthy,
];

/** The words an operator reads for each verdict. */
export const VERDICT_TEXT: Readonly<Record<Verdict, string>> = Object.freeze({
  [Verdict.NoWorkers]: "no workers attached",
  [Verdict.BacklogGrowing]: "backlog growing",
  [Verdict.Idle]: "idle",
  [Verdict.FailuresPresent]: "failures present",
  [Verdict.Healthy]: "healthy",
});

export interface Finding {
  kind: Exclude<Verdict, "healthy">;
  /** The consumer it is about (NEW, VALIDATE, …), if one. */
  consumer?: string;
  /** The consumers an `idle` finding names (one finding for all of them). */
  consumers?: readonly string[];
  message: string;
}

export interface ConsumerRates {
  /** Deliveries per second (including redeliveries). */
  deliveredPerSecond: number;
  /** Change of the pending count per second; positive means the backlog grows. */
  pendingPerSecond: number;
}

export interface StatusReport {
  sample: StatusSample;
  /** How much history the rates and the verdict cover, ms (0 with a single sample). */
  windowMs: number;
  /** Messages stored per second, per subject token of the sample (every step, then `failed`). */
  rates: Record<string, number>;
  /** Per stage, keyed as the sample's consumers are. */
  consumerRates: Record<string, ConsumerRates>;
  verdict: Verdict;
  findings: Finding[];
}

const perSecond = (delta: number, ms: number) => (ms > 0 ? (delta * 1000) / ms : 0);

function outstanding(c: ConsumerSample): number {
  return c.numPending + c.numAckPending;
}

function consumerFindings(
  older: ConsumerSample,
  latest: ConsumerSample,
  windowMs: number,
  opts: Pick<StatusOptions, "backlogGrowthMin">,
): Finding[] {
  const seconds = (windowMs / 1000).toFixed(1);
  // A worker that pulls advances the delivered sequence; one that acks moves the ack floor or
  // shrinks what is outstanding. None of that, nobody waiting, and work queued: nobody is there (or
  // every worker is stuck, which needs the same action).
  const idle =
    latest.deliveredConsumerSeq === older.deliveredConsumerSeq &&
    latest.ackFloorStreamSeq === older.ackFloorStreamSeq &&
    outstanding(latest) >= outstanding(older);
  if (latest.numWaiting === 0 && outstanding(latest) > 0 && idle) {
    return [
      {
        kind: Verdict.NoWorkers,
        consumer: latest.name,
        message: `${latest.name}: ${formatNumber(outstanding(latest))} ${plural(outstanding(latest), "order")} waiting and nothing pulled or acked them in ${seconds}s`,
      },
    ];
  }
  const growth = latest.numPending - older.numPending;
  if (growth >= opts.backlogGrowthMin) {
    return [
      {
        kind: Verdict.BacklogGrowing,
        consumer: latest.name,
        message: `${latest.name}: pending rose by ${formatNumber(growth)} to ${formatNumber(latest.numPending)} in ${seconds}s`,
      },
    ];
  }
  return [];
}

/**
 * Nothing to do and nobody there: no order waiting or unacked, no pull request waiting at either
 * end of the window and nothing delivered in it. A running worker always keeps a pull request
 * open while it has room (it re-pulls as each one expires), so an empty waiting list at both ends
 * means no worker is connected; "all caught up" would hide that the next order would sit there.
 */
function isUnattended(older: ConsumerSample, latest: ConsumerSample): boolean {
  return (
    older.numWaiting === 0 &&
    latest.numWaiting === 0 &&
    outstanding(older) === 0 &&
    outstanding(latest) === 0 &&
    latest.deliveredConsumerSeq === older.deliveredConsumerSeq
  );
}

function idleFinding(pairs: ReadonlyArray<[ConsumerSample, ConsumerSample]>, windowMs: number): Finding[] {
  const names = pairs.filter(([o, l]) => isUnattended(o, l)).map(([, l]) => l.name);
  if (names.length === 0) return [];
  return [
    {
      kind: Verdict.Idle,
      consumers: names,
      message: `no workers on ${names.join(", ")} (nothing pending, and no pull request waiting for ${(windowMs / 1000).toFixed(1)}s)`,
    },
  ];
}

/**
 * Judges the pipeline from the oldest and newest sample of a window. Pure: the dashboard and
 * `orderflow status` both call it with samples they collected.
 */
export function assessStatus(
  window: readonly StatusSample[],
  opts: Pick<StatusOptions, "backlogGrowthMin">,
): StatusReport {
  const latest = window[window.length - 1];
  const older = window[0];
  if (!latest || !older) throw new RangeError("assessStatus needs at least one sample");
  const windowMs = latest.atMs - older.atMs;
  const rates = Object.fromEntries(
    Object.entries(latest.subjects).map(([s, n]) => [
      s,
      perSecond(Math.max(0, n - (older.subjects[s] ?? 0)), windowMs),
    ]),
  );
  // Each stage's consumer at both ends of the window, in pipeline order (the sample's key order).
  const pairs = Object.entries(latest.consumers).map(
    ([key, l]) => [key, older.consumers[key] ?? l, l] as const,
  );
  const rate = (o: ConsumerSample, l: ConsumerSample): ConsumerRates => ({
    deliveredPerSecond: perSecond(l.deliveredConsumerSeq - o.deliveredConsumerSeq, windowMs),
    pendingPerSecond: perSecond(l.numPending - o.numPending, windowMs),
  });

  const findings: Finding[] = [];
  // One sample cannot show a trend or the absence of progress; it can show failures.
  if (windowMs > 0) {
    findings.push(
      ...pairs.flatMap(([, o, l]) => consumerFindings(o, l, windowMs, opts)),
      ...idleFinding(
        pairs.map(([, o, l]) => [o, l]),
        windowMs,
      ),
    );
  }
  // Replayed dead letters are dealt with: the operator fixed the cause and sent them again (one that
  // fails again is a new dead letter, and counts).
  const failed = latest.unreplayedDeadLetters;
  if (failed > 0) {
    const recent = (latest.subjects[Stage.Failed] ?? 0) - (older.subjects[Stage.Failed] ?? 0);
    const notes = [
      ...(recent > 0 ? [`${formatNumber(recent)} new in the window`] : []),
      ...(latest.replayedDeadLetters > 0 ? [`${formatNumber(latest.replayedDeadLetters)} replayed`] : []),
      "see `orderflow dead-letters list`",
    ];
    findings.push({
      kind: Verdict.FailuresPresent,
      message: `${formatNumber(failed)} dead-lettered ${plural(failed, "order")} in ${latest.stream} (${notes.join("; ")})`,
    });
  }
  findings.sort((a, b) => SEVERITY.indexOf(a.kind) - SEVERITY.indexOf(b.kind));
  return {
    sample: latest,
    windowMs,
    rates,
    consumerRates: Object.fromEntries(pairs.map(([key, o, l]) => [key, rate(o, l)])),
    verdict: findings[0]?.kind ?? Verdict.Healthy,
    findings,
  };
}
