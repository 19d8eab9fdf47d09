import { withDefaults } from "../common/defaults.js";
import { LateRedeliveries } from "./output-ledger.js";
import type { StartRate } from "./start-gate.js";

/**
 * Options of a stage worker, with their defaults in one place. Milliseconds and counts, camelCase;
 * the server-shaped settings live in topology/spec.ts.
 */
export interface StageWorkerOptions {
  /** Stream the consumer belongs to. Default `ORDERS`. */
  stream: string;
  /** Subject dead letters are published to. Default `ORDERS.failed`. */
  failedSubject: string;
  /** Messages asked for per pull request. Default 250. */
  batch: number;
  /**
   * Most orders held at once: pulled but not yet acked (publishes awaiting their PubAck included).
   * Keep it at or below the consumer's max_ack_pending (1000). Default 1000.
   */
  maxInFlight: number;
  /**
   * Handler failures (errors, timeouts) before an order is dead-lettered (`--max-attempts`);
   * redeliveries for other reasons (a worker stopped, NATS trouble) do not count. Default 5.
   */
  maxAttempts: number;
  /** First retry delay after a handler error; doubles per attempt. Default 500 ms. */
  retryBaseMs: number;
  /** Longest retry delay. Default 30,000 ms. */
  retryMaxMs: number;
  /** A publish whose PubAck has not come back by then is given up and its input nak'ed. Default 5,000 ms. */
  pubAckTimeoutMs: number;
  /** Lifetime of one pull request on the server; also bounds how long stop() waits for it. Default 2,000 ms. */
  pullExpiresMs: number;
  /** Delay before an input is redelivered after an infrastructure failure. Default 1,000 ms. */
  infraRetryMs: number;
  /** How often the info-level summary line is logged; 0 turns it off. Default 10,000 ms. */
  summaryIntervalMs: number;
  /**
   * Prefix of the worker's reply inboxes (pull requests and PubAcks); must match the connection's
   * `inboxPrefix` where users may only subscribe below their own. Default `_INBOX`.
   */
  inboxPrefix: string;
  /**
   * Publish outputs with `Nats-Msg-Id`. Default true. Turning it off removes the exactly-once stage
   * transition; it exists only for the control test that proves the fault tests can see duplicates.
   */
  msgIds: boolean;
  /**
   * An async handler that has not settled by then is aborted (its `ctx.signal`) and counts as a
   * failed attempt: retried with backoff, dead-lettered with reason `timeout` on the last attempt.
   * Its late result is discarded. `--handler-timeout`. Default 30,000 ms.
   */
  handlerTimeoutMs: number;
  /**
   * The consumer's ack wait (createStageWorker reads it from the server). While an async handler
   * runs, its input gets a +WPI every third of it, so it is not redelivered mid-run. Default
   * 30,000 ms, the topology's ack wait: a worker built by hand on a consumer with a shorter one
   * must say so here.
   */
  ackWaitMs: number;
  /**
   * Most handler calls running at once (`--concurrency`); further deliveries wait in a queue (and
   * get +WPI while they wait). 0: no limit other than `maxInFlight`. Default 0.
   */
  concurrency: number;
  /**
   * The stream's duplicate window (createStageWorker reads it from the server): a redelivery whose
   * input is older than this may find its output stored outside it. Default 120,000 ms, the
   * topology's.
   */
  duplicateWindowMs: number;
  /**
   * What to do with such a late redelivery (`--late-redeliveries`): `verify` asks the order index
   * whether the output is already stored (acked without a second one if so; held, retried and
   * logged while the index cannot tell), `publish` publishes as for any delivery. A `verify` worker
   * with no index wired (StageWorkerDeps.outputLedger) gives such an order back and stops with a
   * LateRedeliveryError rather than hold it forever; createStageWorker wires the index or refuses
   * to start. Default `verify`.
   */
  lateRedeliveries: LateRedeliveries;
  /** How long a late redelivery the index cannot vouch for waits before it is tried again. Default 10,000 ms. */
  lateHoldMs: number;
  /**
   * Most handler starts per window (`--rate-limit`, e.g. 50 per 1,000 ms), per worker; deliveries
   * over it wait in the `concurrency` queue (with +WPI). Undefined: no limit. Default undefined.
   */
  rateLimit: StartRate | undefined;
  /**
   * On stop, how long running handlers may go on finishing (`--drain-timeout`); then they are
   * aborted (`ctx.signal`) and their inputs nak'ed without delay, for another worker. Default 10,000 ms.
   */
  drainTimeoutMs: number;
}

/** The options an operator tunes per run (flags of `orderflow worker` and `orderflow up`). */
export const STAGE_TUNING_KEYS = [
  "batch",
  "maxInFlight",
  "maxAttempts",
  "handlerTimeoutMs",
  "concurrency",
  "lateRedeliveries",
  "rateLimit",
  "drainTimeoutMs",
] as const satisfies ReadonlyArray<keyof StageWorkerOptions>;
export type StageTuning = Pick<StageWorkerOptions, (typeof STAGE_TUNING_KEYS)[number]>;

/** The tuning part of a larger options object (`up`'s), for a stage worker. */
export function stageTuningOf(o: Partial<StageTuning>): Partial<StageTuning> {
  const out: Record<string, unknown> = {};
  for (const k of STAGE_TUNING_KEYS) if (o[k] !== undefined) out[k] = o[k];
  return out as Partial<StageTuning>;
}

export const DEFAULT_STAGE_WORKER_OPTIONS: Readonly<StageWorkerOptions> = Object.freeze({
  stream: "ORDERS",
  failedSubject: "ORDERS.failed",
  batch: 250,
  maxInFlight: 1000,
  maxAttempts: 5,
  retryBaseMs: 500,
  retryMaxMs: 30_000,
  pubAckTimeoutMs: 5_000,
  pullExpiresMs: 2_000,
  infraRetryMs: 1_000,
  summaryIntervalMs: 10_000,
  inboxPrefix: "_INBOX",
  msgIds: true,
  handlerTimeoutMs: 30_000,
  ackWaitMs: 30_000,
  concurrency: 0,
  duplicateWindowMs: 120_000,
  lateRedeliveries: LateRedeliveries.Verify,
  lateHoldMs: 10_000,
  rateLimit: undefined,
  drainTimeoutMs: 10_000,
});

/** Merges defaults with the caller's options (never changing the caller's object) and checks them. */
export function stageWorkerOptions(overrides: Partial<StageWorkerOptions> = {}): StageWorkerOptions {
  const o = withDefaults<StageWorkerOptions>(DEFAULT_STAGE_WORKER_OPTIONS, overrides);
  const positive: Array<keyof StageWorkerOptions> = [
    "batch",
    "maxInFlight",
    "maxAttempts",
    "pubAckTimeoutMs",
    "pullExpiresMs",
    "handlerTimeoutMs",
    "ackWaitMs",
    "duplicateWindowMs",
    "lateHoldMs",
  ];
  for (const k of positive) {
    const v = o[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1)
      throw new RangeError(`${k} must be a positive whole number, got ${String(v)}`);
  }
  if (!Number.isInteger(o.concurrency) || o.concurrency < 0)
    throw new RangeError(`concurrency must be a whole number (0: no limit), got ${String(o.concurrency)}`);
  if (!Object.values(LateRedeliveries).includes(o.lateRedeliveries))
    throw new RangeError(`lateRedeliveries must be verify or publish, got ${String(o.lateRedeliveries)}`);
  if (!Number.isInteger(o.drainTimeoutMs) || o.drainTimeoutMs < 0)
    throw new RangeError(`drainTimeoutMs must be a whole number of ms, got ${String(o.drainTimeoutMs)}`);
  if (o.batch > o.maxInFlight)
    throw new RangeError(`batch (${o.batch}) must not exceed maxInFlight (${o.maxInFlight})`);
  return o;
}

/** Retry delay for the n-th delivery (1-based): base · 2^(n-1), capped. */
export function retryDelayMs(
  o: Pick<StageWorkerOptions, "retryBaseMs" | "retryMaxMs">,
  deliveryCount: number,
): number {
  return Math.min(o.retryMaxMs, o.retryBaseMs * 2 ** Math.max(0, deliveryCount - 1));
}

/** A consumer's ack wait in ms (the server reports nanoseconds; 0 or missing means its 30 s default). */
export function ackWaitMs(nanos: number | undefined): number {
  return nanos && nanos > 0 ? Math.max(1, Math.round(nanos / 1_000_000)) : 30_000;
}

/** A stream's duplicate window in ms (nanoseconds from the server; 0 or missing means its 2-minute default). */
export function duplicateWindowMs(nanos: number | undefined): number {
  return nanos && nanos > 0 ? Math.max(1, Math.round(nanos / 1_000_000)) : 120_000;
}
