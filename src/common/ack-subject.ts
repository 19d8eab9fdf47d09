/**
 * What the server encodes in the reply subject of a JetStream delivery:
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<streamSeq>.<consumerSeq>.<tsNanos>.<pending>` (2.9), or with
 * `<domain>.<accountHash>` after `$JS.ACK` and a random token at the end (2.10+).
 */
export interface DeliveryInfo {
  stream: string;
  consumer: string;
  /** 1 on first delivery. */
  deliveryCount: number;
  streamSeq: number;
  consumerSeq: number;
  /** Time the message was stored, in ms since the epoch. */
  timestampMs: number;
  pending: number;
}

export function parseAckSubject(reply: string): DeliveryInfo | undefined {
  if (!reply.startsWith("$JS.ACK.")) return undefined;
  const t = reply.split(".");
  const o = t.length === 9 ? 2 : t.length >= 11 ? 4 : -1;
  if (o < 0) return undefined;
  return {
    stream: t[o] as string,
    consumer: t[o + 1] as string,
    deliveryCount: Number(t[o + 2]),
    streamSeq: Number(t[o + 3]),
    consumerSeq: Number(t[o + 4]),
    timestampMs: Math.floor(Number(t[o + 5]) / 1e6),
    pending: Number(t[o + 6]),
  };
}

/**
 * The two fields the stage hot path needs, without allocating the token array: delivery count and
 * stream sequence. Returns false for a reply that is not a JetStream ack subject.
 */
export function readDelivery(reply: string, out: { deliveryCount: number; streamSeq: number }): boolean {
  if (!reply.startsWith("$JS.ACK.")) return false;
  let dots = 0;
  for (let i = 0; i < reply.length; i++) if (reply.charCodeAt(i) === 46) dots++;
  // 8 dots in the 2.9 form; 10 or more with domain and account hash.
  const skip = dots === 8 ? 4 : 6;
  let i = 0;
  for (let d = 0; d < skip; d++) i = reply.indexOf(".", i) + 1;
  const j = reply.indexOf(".", i);
  const k = reply.indexOf(".", j + 1);
  out.deliveryCount = Number(reply.substring(i, j));
  out.streamSeq = Number(reply.substring(j + 1, k));
  return true;
}
