/**
 * Dead letters: an order that can never be processed is published to `<prefix>.failed` with its
 * original payload and these headers, then its input is acked. The dead letter carries a
 * deterministic Nats-Msg-Id (`<consumer>:<stream seq>:failed`), so a crash between publishing it
 * and acking the input cannot store it twice.
 */
export const DeadLetterHeader = {
  /** The stage that gave up: `processor`, `dispatcher` or a custom stage's name. */
  Stage: "Orderflow-Stage",
  /**
   * Machine-readable reason: `empty`, `not-utf8`, `control-char`, `comma`, `too-long`, `bad-form`,
   * `max-attempts`, `timeout`, `output-too-large`, or a handler's own InvalidOrderError reason.
   */
  Reason: "Orderflow-Reason",
  /** Human-readable detail: the validation message or the handler's last error. */
  Error: "Orderflow-Error",
  /** Stream sequence of the input message. */
  SourceSeq: "Orderflow-Source-Seq",
  /** Subject of the input message (`ORDERS.received`, …). */
  SourceSubject: "Orderflow-Source-Subject",
  /**
   * The order number when it could be read, for `orderflow order`, escaped as in message ids
   * (`orderIdKey`: `%` and white space percent-encoded) because header values lose leading blanks.
   */
  OrderNo: "Orderflow-Order-No",
  /** How many times the input was delivered before it was dead-lettered. */
  Deliveries: "Orderflow-Deliveries",
  /**
   * Set to `true` when the payload is cut short to fit the server's max_payload; the original stays
   * in the stream at Orderflow-Source-Seq.
   */
  Truncated: "Orderflow-Truncated",
  /** The size of the original payload in bytes, set with Truncated. */
  PayloadBytes: "Orderflow-Payload-Bytes",
} as const;

export const MAX_ATTEMPTS_REASON = "max-attempts";
/** The handler's output does not fit under the server's max_payload. */
export const OUTPUT_TOO_LARGE_REASON = "output-too-large";
/** Reason of an order whose handler ran past `--handler-timeout` on its last attempt. */
export const TIMEOUT_REASON = "timeout";

export function deadLetterMsgId(consumer: string, streamSeq: number): string {
  return `${consumer}:${streamSeq}:failed`;
}

/** Header values may not hold CR/LF and should stay short. */
export function headerSafe(value: string, max = 512): string {
  const flat = value.replace(/[\r\n]+/g, " ");
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
