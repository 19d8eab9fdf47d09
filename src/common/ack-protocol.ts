/**
 * What a JetStream consumer takes on a delivery's reply subject, named as nats.js names the calls
 * on a `JsMsg`: `ack()`, `nak(delay)`, `working()`, `term(reason)`. The bodies are built here and
 * nowhere else; the constant ones are encoded once, so sending them allocates nothing per message.
 */
const encoder = new TextEncoder();
const ACK = encoder.encode("+ACK");
const WORKING = encoder.encode("+WPI");
const NAK = encoder.encode("-NAK");
const TERM = encoder.encode("+TERM");

/** A body to publish on a delivery's reply subject. */
export type AckBody = Uint8Array | string;

/** The delivery is done: the server will not send it again. */
export function ack(): AckBody {
  return ACK;
}

/** The delivery is still being worked on: its ack wait starts again. */
export function working(): AckBody {
  return WORKING;
}

/**
 * Give the delivery back: redelivered after `delayMs` (to any subscriber of the consumer), at once
 * when it is 0. The server takes the delay in nanoseconds.
 */
export function nak(delayMs = 0): AckBody {
  if (!(delayMs > 0)) return NAK;
  return `-NAK {"delay":${Math.round(delayMs) * 1_000_000}}`;
}

export interface TermOptions {
  /**
   * The server honours `+TERM <reason>` (2.10.4 and later; the reason lands in the MSG_TERMINATED
   * advisory). Before that only a bare `+TERM` is understood and a reason makes the server redeliver
   * instead. Default false: the reason is dropped.
   */
  reasonHonoured: boolean;
}

/** Stop delivering it for good (no more redeliveries, a MSG_TERMINATED advisory). */
export function term(reason?: string, options: Partial<TermOptions> = {}): AckBody {
  if (!options.reasonHonoured || !reason) return TERM;
  // The reason runs to the end of the body; a line break would end the protocol line early.
  return `+TERM ${reason.replace(/[\r\n]+/g, " ")}`;
}
