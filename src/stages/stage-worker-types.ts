import type { Logger } from "../common/logger.js";
import type { Tracing } from "../common/tracing.js";
import type { OutputLedger } from "./output-ledger.js";

/** The shapes a StageWorker reports: its outcomes, counters, handler calls and events. */
export const OutcomeKind = { Done: "done", DeadLettered: "dead-lettered", Retried: "retried" } as const;
export type OutcomeKind = (typeof OutcomeKind)[keyof typeof OutcomeKind];

/** What became of one delivery; emitted as `outcome` only when someone listens. */
export interface Outcome {
  kind: OutcomeKind;
  stage: string;
  seq: number;
  orderNo: string | undefined;
  /** From delivery to ack (or nak), in ms. */
  latencyMs: number;
  reason?: string;
}

export interface StageStats {
  processed: number;
  deadLettered: number;
  retried: number;
  /** Publishes that failed for infrastructure reasons; their inputs were left for redelivery. */
  infraErrors: number;
  /** Deliveries seen that were redeliveries (delivery count > 1). */
  redelivered: number;
  /** Late redeliveries acked without a second output: the order index showed it stored. */
  alreadyStored: number;
  /** Late redeliveries held (nak'ed with a delay) because no index could tell. */
  lateHeld: number;
  inFlight: number;
  /** Messages asked for in pull requests and not yet delivered: the open part of the pull window. */
  pullsOutstanding: number;
  /** Handler calls running now (async ones between start and result or timeout). */
  handlersRunning: number;
  /** Handler calls given up on at `handlerTimeoutMs`. */
  handlerTimeouts: number;
}

/** One async handler call that ended; emitted as `handler` only when someone listens. */
export interface HandlerCall {
  stage: string;
  durationMs: number;
  timedOut: boolean;
}

export interface StageWorkerEvents {
  outcome: [Outcome];
  /**
   * An async handler call ended (result, error, timeout or abandoned on stop). Synchronous handlers,
   * the built-in stages among them, are not timed: they take microseconds.
   */
  handler: [HandlerCall];
  /**
   * The worker stopped itself: the connection closed, the server refused it permission, or a late
   * redelivery came that it has no order index to verify (LateRedeliveryError).
   */
  fatal: [Error];
  stopping: [];
  stopped: [];
}

/** What a StageWorker is built with besides its options. */
export interface StageWorkerDeps {
  /** Where the worker logs (a child bound to the stage is made). Default: nowhere. */
  logger?: Logger;
  /**
   * Asked about redeliveries past the duplicate window when `lateRedeliveries` is `verify`.
   * Without one, such a redelivery stops the worker with a LateRedeliveryError rather than being
   * held forever; createStageWorker wires the order index here.
   */
  outputLedger?: OutputLedger;
  /**
   * OpenTelemetry tracing (docs/tracing.md): a `process` span per delivery, the handler run inside
   * it, a `send` span per output with its context in the output's headers. Without one (the
   * default) the worker creates no span, context or header and reads no input headers.
   */
  tracing?: Tracing;
}

export type WorkerState = "new" | "running" | "stopping" | "stopped";
