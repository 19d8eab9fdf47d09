import { Match, type MsgHdrs } from "@nats-io/nats-core";
import { parseTraceparent, TRACEPARENT_HEADER } from "../common/trace-context.js";
import { type DeadLetterInfo, deadLetterInfo, headersRecord } from "../stages/dead-letter-info.js";
import { SEED_STEPS, type StageOrOther } from "../stages/order-key.js";
import { Stage } from "../topology/spec.js";

/** One message of an order's life. */
export interface TimelineEntry {
  stage: StageOrOther;
  subject: string;
  seq: number;
  /** When the stream stored it. */
  time: Date;
  payload: string;
  /** Dead letters only. */
  headers?: Record<string, string>;
  deadLetter?: DeadLetterInfo;
  /** An input republished by `orderflow dead-letters replay`: the dead letter's stream sequence. */
  replayOf?: number;
  /** The trace the message was published in: its `traceparent` header's trace id (absent without one). */
  traceId?: string;
  /** The span that published it (the `traceparent` parent id). */
  spanId?: string;
}

/** The header a replayed input carries (orders/dead-letters.ts ReplayHeader.Of). */
const REPLAY_OF_HEADER = "Orderflow-Replay-Of";

/**
 * Where an order is: the furthest step it reached (a dead letter ends it). The seed's states are
 * named here; a declared pipeline's are its own step words (`validated`, `paid`, …).
 */
export const OrderState = {
  Received: "received",
  Processed: "processed",
  Completed: "completed",
  Failed: "failed",
  Unknown: "unknown",
} as const;
export type OrderState = string;

// ignoreBOM: a leading BOM is part of an order number (a CSV export writes one), not encoding noise.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** A timeline entry from a stored message (getMessage) or a delivered one (scan). */
export function timelineEntry(
  m: { subject: string; seq: number; time: Date; data: Uint8Array },
  headers: MsgHdrs | undefined,
  stage: StageOrOther,
): TimelineEntry {
  const entry: TimelineEntry = {
    stage,
    subject: m.subject,
    seq: m.seq,
    time: m.time,
    payload: decoder.decode(m.data),
  };
  if (stage === Stage.Failed) {
    entry.headers = headersRecord(headers);
    entry.deadLetter = deadLetterInfo(entry.headers);
  }
  const replayOf = Number(headers?.get(REPLAY_OF_HEADER) || Number.NaN);
  if (Number.isInteger(replayOf)) entry.replayOf = replayOf;
  const trace = traceOf(headers);
  if (trace) {
    entry.traceId = trace.traceId;
    entry.spanId = trace.spanId;
  }
  return entry;
}

/**
 * The trace context of a message, by its `traceparent` header in any letter case. Two values (two
 * headers differing in case, or one repeated) are no context, as the W3C recommendation asks.
 */
function traceOf(headers: MsgHdrs | undefined): ReturnType<typeof parseTraceparent> {
  if (!headers) return undefined;
  const values = headers.values(TRACEPARENT_HEADER, Match.IgnoreCase);
  return values.length === 1 ? parseTraceparent(values[0]) : undefined;
}

/** Ascending by stream sequence, each sequence once. */
export function mergeEntries(...lists: TimelineEntry[][]): TimelineEntry[] {
  const bySeq = new Map<number, TimelineEntry>();
  for (const list of lists) for (const e of list) bySeq.set(e.seq, e);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/** `steps`: the pipeline's, intake first (stepsOf); the seed's when left out. */
export function orderState(
  entries: readonly TimelineEntry[],
  steps: readonly string[] = SEED_STEPS,
): OrderState {
  // A dead letter ends the order unless it was replayed: then what came after it counts.
  let lastFailed = -1;
  entries.forEach((e, i) => {
    if (e.stage === Stage.Failed) lastFailed = i;
  });
  const after = entries.slice(lastFailed + 1);
  if (lastFailed >= 0 && !after.some((e) => e.replayOf !== undefined)) return OrderState.Failed;
  const stages = new Set(after.map((e) => e.stage));
  if (stages.has(Stage.Failed)) return OrderState.Failed;
  for (let i = steps.length - 1; i >= 0; i--) {
    const step = steps[i] as string;
    if (stages.has(step)) return step;
  }
  return OrderState.Unknown;
}
