import type { Msg } from "@nats-io/nats-core";
import { parseAckSubject } from "../common/ack-subject.js";
import { type DeadLetterInfo, deadLetterInfo, headersRecord } from "../stages/dead-letter-info.js";
import { orderKeyOf, SEED_STEPS, type StageOrOther, stageOfSubject } from "../stages/order-key.js";
import { Stage } from "../topology/spec.js";

/** One order event as the MONITOR push consumer delivers it. */
export interface OrderEvent {
  /** When the stream stored the message (not when we saw it). */
  time: Date;
  /**
   * The pipeline step (`received`, `processed`, `completed` in the seed; a declared pipeline's own
   * steps), `failed`, or `other` for another subject of the stream.
   */
  stage: StageOrOther;
  /** The stream subject, e.g. `ORDERS.received`. */
  subject: string;
  /** Stream sequence. */
  seq: number;
  /** The payload as UTF-8 text. */
  payload: string;
  /** The order it belongs to (see stages/order-key.ts), when it can be told. */
  orderNo: string | undefined;
  /** Events the MONITOR consumer still holds after this one. */
  pending: number;
  /** Dead letters only: all headers, and the reason read from them. */
  headers?: Record<string, string>;
  deadLetter?: DeadLetterInfo;
}

// ignoreBOM: a leading BOM is part of an order number (a CSV export writes one), not encoding noise.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * An event from a message on the monitor subject, or undefined for anything that is not a
 * JetStream delivery (a flow-control or heartbeat status, a message someone published by hand).
 * `steps` are the pipeline's (stepsOf), the seed's when left out.
 */
export function toOrderEvent(
  msg: Msg,
  subjectPrefix: string,
  steps: readonly string[] = SEED_STEPS,
): OrderEvent | undefined {
  // MONITOR acks nothing, but the server still sends the ack subject: it is how a plain core
  // subscriber learns each event's stream sequence and stored time.
  const delivery = msg.reply ? parseAckSubject(msg.reply) : undefined;
  if (!delivery || !Number.isSafeInteger(delivery.streamSeq)) return undefined;
  const stage = stageOfSubject(msg.subject, subjectPrefix, steps);
  const event: OrderEvent = {
    time: new Date(delivery.timestampMs),
    stage,
    subject: msg.subject,
    seq: delivery.streamSeq,
    payload: decoder.decode(msg.data),
    orderNo: orderKeyOf(stage, msg.data, msg.headers, steps),
    pending: delivery.pending,
  };
  if (stage === Stage.Failed) {
    event.headers = headersRecord(msg.headers);
    event.deadLetter = deadLetterInfo(event.headers);
  }
  return event;
}
