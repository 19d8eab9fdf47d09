import { headers, type MsgHdrs, MsgHdrsImpl, type NatsConnection } from "@nats-io/nats-core";
import { DeadLetterHeader, deadLetterMsgId, headerSafe } from "./dead-letter.js";
import type { InFlight } from "./in-flight.js";
import { orderIdKey } from "./payload.js";
import { outputMsgId, type StageDefinition } from "./stage.js";

const MSG_ID = "Nats-Msg-Id";
/** Room kept under max_payload for the protocol line and headers when sizing a payload. */
export const SMALL_ENOUGH = 4_096;

/** Encoded size of headers as the client will send them (`headers()` makes an MsgHdrsImpl). */
function headerBytes(h: MsgHdrs | undefined): number {
  return h ? (h as MsgHdrsImpl).encode().length : 0;
}

/** The server's limit for one message (payload and headers), 1 MB unless configured. */
export function maxPayload(nc: NatsConnection): number {
  return nc.info?.max_payload ?? 1024 * 1024;
}

export function tooLarge(data: Uint8Array, h: MsgHdrs | undefined, max: number): boolean {
  return data.length + headerBytes(h) > max;
}

/** The output's headers: the handler's own (from its context) and the deterministic msg id. */
export function outputHeaders(stage: StageDefinition, e: InFlight, msgIds: boolean): MsgHdrs | undefined {
  if (e.ctx?.output) {
    const h = headers();
    for (const [k, v] of e.ctx.output) h.set(k, v);
    if (msgIds) h.set(MSG_ID, outputMsgId(stage, e.orderNo));
    return h;
  }
  if (!msgIds) return undefined;
  // The common case, once per order: fromRecord skips what set() does per call (key lookups
  // twice, MIME canonicalisation, a regex on the value). The id needs none of it: order
  // numbers have no control characters (payload.ts), so no CR or LF, and it is not trimmed.
  return MsgHdrsImpl.fromRecord({ "Nats-Msg-Id": [outputMsgId(stage, e.orderNo)] });
}

/**
 * A dead letter's headers, and its payload cut to fit `max` where the original does not. `traced`
 * (only when tracing is on) adds the failing delivery's trace context to the headers.
 */
export function deadLetterMessage(
  stage: StageDefinition,
  e: InFlight,
  reason: string,
  detail: string,
  max: number,
  traced?: (h: MsgHdrs) => void,
): { data: Uint8Array; h: MsgHdrs } {
  const h = headers();
  h.set(MSG_ID, deadLetterMsgId(stage.consumer, e.seq));
  h.set(DeadLetterHeader.Stage, stage.name);
  h.set(DeadLetterHeader.Reason, headerSafe(reason, 64));
  h.set(DeadLetterHeader.Error, headerSafe(detail));
  h.set(DeadLetterHeader.SourceSeq, String(e.seq));
  h.set(DeadLetterHeader.SourceSubject, e.subject);
  h.set(DeadLetterHeader.Deliveries, String(e.deliveryCount));
  if (e.orderNo) h.set(DeadLetterHeader.OrderNo, headerSafe(orderIdKey(e.orderNo)));
  // Before sizing: the trace context is part of what must fit.
  traced?.(h);
  let data = e.data;
  if (data.length + SMALL_ENOUGH > max && tooLarge(data, h, max)) {
    // The original stays in the stream at its source seq; the dead letter says so and fits.
    h.set(DeadLetterHeader.Truncated, "true");
    h.set(DeadLetterHeader.PayloadBytes, String(data.length));
    data = data.subarray(0, Math.max(0, max - headerBytes(h) - SMALL_ENOUGH));
  }
  return { data, h };
}
