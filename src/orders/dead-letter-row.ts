import type { MsgHdrs } from "@nats-io/nats-core";
import { type DeadLetterInfo, deadLetterInfo, headersRecord } from "../stages/dead-letter-info.js";
import { orderKeyOf, SEED_STEPS } from "../stages/order-key.js";
import { Stage } from "../topology/spec.js";

/**
 * One dead letter as every listing shows it: `orderflow dead-letters list` and `show`, the
 * dashboard's dead-letter panel and its inspect-and-replay table.
 */
export interface DeadLetterRow {
  /** Stream sequence of the dead letter itself. */
  seq: number;
  /** When it was stored, ISO 8601. */
  time: string;
  /** The stage that gave up, or `unknown`. */
  stage: string;
  /** Machine-readable reason, or `no reason recorded`. */
  reason: string;
  /** Human-readable detail; empty when none was recorded. */
  error: string;
  /** The order number as an operator types it (`orderflow order <no>`), unescaped. */
  orderNo: string | undefined;
  deliveries: number | undefined;
  /** Stream sequence and subject of the input that failed: where a replay republishes it. */
  sourceSeq: number | undefined;
  sourceSubject: string | undefined;
  /** The original input's payload as text. */
  payload: string;
}

/** What a dead letter says about itself, however it was read: from the stream or the MONITOR feed. */
export interface DeadLetterFacts {
  seq: number;
  time: Date;
  info: DeadLetterInfo;
  orderNo: string | undefined;
  payload: string;
}

// ignoreBOM: a leading BOM is part of an order number (a CSV export writes one), not encoding noise.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** The one mapping from a dead letter to its row. */
export function deadLetterRow(f: DeadLetterFacts): DeadLetterRow {
  return {
    seq: f.seq,
    time: f.time.toISOString(),
    stage: f.info.stage ?? "unknown",
    reason: f.info.reason ?? "no reason recorded",
    error: f.info.error ?? "",
    orderNo: f.orderNo,
    deliveries: f.info.deliveries,
    sourceSeq: f.info.sourceSeq,
    sourceSubject: f.info.sourceSubject,
    payload: f.payload,
  };
}

/** A stored dead letter as read from the stream. */
export interface StoredDeadLetter {
  seq: number;
  time: Date;
  data: Uint8Array;
  headers?: MsgHdrs;
}

/**
 * The facts of a stored dead letter: its headers, its order key as the index reads it, its payload.
 * `steps`: the pipeline's (stepsOf), the seed's when left out.
 */
export function deadLetterFacts(m: StoredDeadLetter, steps: readonly string[] = SEED_STEPS): DeadLetterFacts {
  return {
    seq: m.seq,
    time: m.time,
    info: deadLetterInfo(headersRecord(m.headers)),
    orderNo: orderKeyOf(Stage.Failed, m.data, m.headers, steps),
    payload: decoder.decode(m.data),
  };
}
