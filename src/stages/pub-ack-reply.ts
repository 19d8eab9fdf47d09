import type { MsgHdrs } from "@nats-io/nats-core";
import { PublishError } from "../common/errors.js";
import { isRetryLater } from "../common/nats-errors.js";

/**
 * What a reply to a JetStream publish says, read without a JSON parse on the success path: the
 * server writes `{"stream":"ORDERS", "seq":N}` (2.9; a `"domain"` may come between), so a byte
 * compare tells a PubAck from anything else.
 */
const encoder = new TextEncoder();
const START = encoder.encode('{"stream":"');
const SEQ = encoder.encode('"seq":');

/** `{"stream":"` then, somewhere after it, `"seq":`. */
export function isPubAck(data: Uint8Array): boolean {
  const start = START;
  if (data.length < start.length + SEQ.length) return false;
  for (let i = 0; i < start.length; i++) if (data[i] !== start[i]) return false;
  const last = data.length - SEQ.length;
  outer: for (let i = start.length; i <= last; i++) {
    for (let j = 0; j < SEQ.length; j++) if (data[i + j] !== SEQ[j]) continue outer;
    return true;
  }
  return false;
}

/**
 * Why a reply that is not a PubAck failed the publish: a status (503 no responders: no stream
 * captures the subject), a JetStream error body, or a reply from something that is not JetStream.
 */
export function pubAckFailure(
  subject: string,
  data: Uint8Array,
  headers: Pick<MsgHdrs, "code" | "description"> | undefined,
): PublishError {
  if (data.length === 0) {
    const code = headers?.code ?? 0;
    if (code === 503) {
      return new PublishError(subject, "no stream captures this subject (no responders)", {
        hint: "run `orderflow setup`",
      });
    }
    return new PublishError(subject, `status ${code} ${headers?.description ?? ""}`.trim(), {
      retryLater: isRetryLater(undefined, code),
    });
  }
  try {
    const body = JSON.parse(new TextDecoder().decode(data)) as {
      error?: { code?: number; description?: string; err_code?: number };
    };
    if (body.error) {
      // 429 / 10158 (2.11+): the stream asks for the same message again shortly.
      return new PublishError(
        subject,
        `${body.error.description ?? "unknown JetStream error"} (${body.error.err_code ?? "?"})`,
        { retryLater: isRetryLater(body.error.err_code, body.error.code) },
      );
    }
    return notAPubAck(subject, data);
  } catch (err) {
    return notAPubAck(subject, data, err);
  }
}

function notAPubAck(subject: string, data: Uint8Array, cause?: unknown): PublishError {
  return new PublishError(
    subject,
    `the reply is not a JetStream PubAck: ${JSON.stringify(new TextDecoder().decode(data).slice(0, 100))}`,
    { hint: "a core NATS responder answers on this subject; no JetStream stream stored it", cause },
  );
}
