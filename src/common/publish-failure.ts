import { JetStreamApiError } from "@nats-io/jetstream";
import {
  ClosedConnectionError,
  DrainingConnectionError,
  type NatsConnection,
  PermissionViolationError,
  TimeoutError,
} from "@nats-io/nats-core";
import { errorMessage, PayloadTooLargeError, PublishError } from "./errors.js";

/**
 * What a failed JetStream publish of `orderflow pub` or the dashboard's form means, each cause with
 * its own hint: "check the server is up" is wrong advice for a message that is simply too big.
 */

/** What was being published, for the error to name. */
export interface PublishAttempt {
  subject: string;
  /** The body's size in bytes. */
  bytes: number;
  /** The stream meant to store it, for the hints. */
  stream: string;
  /** How long the PubAck was awaited, ms. */
  timeoutMs: number;
}

/** JetStream's error code for a message over the stream's max_msg_size. */
const STREAM_MSG_SIZE_EXCEEDED = 10054;

/**
 * Refuses a body larger than the server's max_payload (nc.info.max_payload, 1 MB by default) before
 * sending it: the client would refuse it too, but only with "max_payload size exceeded".
 */
export function checkMaxPayload(nc: NatsConnection, a: Pick<PublishAttempt, "subject" | "bytes">): void {
  const max = nc.info?.max_payload;
  if (max !== undefined && a.bytes > max) throw new PayloadTooLargeError(a.subject, a.bytes, max);
}

export function publishFailure(nc: NatsConnection, a: PublishAttempt, err: unknown): PublishError {
  if (err instanceof PublishError) return err;
  const message = errorMessage(err);
  const fail = (text: string, hint: string) => new PublishError(a.subject, text, { hint, cause: err });
  // The body fitted, but with the headers (Nats-Msg-Id, -H) the client found it over the limit.
  if (/max_payload/i.test(message)) {
    return new PayloadTooLargeError(a.subject, a.bytes, nc.info?.max_payload ?? 0, {
      withHeaders: true,
      cause: err,
    });
  }
  // The server's refusal becomes the cause, which the one-line report turns into a permission error.
  const refusal =
    err instanceof PermissionViolationError
      ? err
      : err instanceof Error && err.cause instanceof PermissionViolationError
        ? err.cause
        : undefined;
  if (refusal) return new PublishError(a.subject, refusal.message, { cause: refusal });
  if (err instanceof JetStreamApiError) {
    if (err.code === STREAM_MSG_SIZE_EXCEEDED || /message size exceeds/i.test(message)) {
      return fail(
        `stream ${a.stream} refused a message of ${a.bytes.toLocaleString("en-US")} bytes: ${message}`,
        `send a smaller message, or raise the stream's max message size (\`orderflow setup --interactive\`; \`orderflow info\` shows it)`,
      );
    }
    return fail(
      `stream ${a.stream} refused it: ${message}`,
      "see the stream's limits and state with `orderflow info`",
    );
  }
  if (err instanceof ClosedConnectionError || err instanceof DrainingConnectionError) {
    return fail(message, "the connection to NATS closed; check the server is up and run the command again");
  }
  if (err instanceof TimeoutError || /timeout/i.test(message)) {
    return fail(
      `no PubAck within ${a.timeoutMs} ms`,
      `the server may be down, restarting or overloaded; check it is up and that stream ${a.stream} exists (\`orderflow info\`)`,
    );
  }
  // nats.js reports "no responders" for a publish as "jetstream is not enabled", but with the
  // stream checked just before, the likelier cause is that no stream takes the subject (any more).
  if (err instanceof Error && (err.name === "JetStreamNotEnabled" || /no responders/i.test(message))) {
    return fail(
      "no stream stored it (no responders)",
      `check that stream ${a.stream} still exists and takes ${a.subject} (\`orderflow info\`; \`orderflow setup\` creates it), and that the server has JetStream`,
    );
  }
  return fail(message, `check the server is up and stream ${a.stream} exists (\`orderflow info\`)`);
}
