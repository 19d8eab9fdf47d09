import { type NatsConnection, PermissionViolationError } from "@nats-io/nats-core";
import { errorMessage, PayloadTooLargeError, PublishError } from "./errors.js";
import { causeOf, NatsFailure, natsFailure } from "./nats-errors.js";

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
  const kind = natsFailure(err);
  // The body fitted, but with the headers (Nats-Msg-Id, -H) the client found it over the limit.
  if (kind === NatsFailure.MaxPayload) {
    return new PayloadTooLargeError(a.subject, a.bytes, nc.info?.max_payload ?? 0, {
      withHeaders: true,
      cause: err,
    });
  }
  // The server's refusal becomes the cause, which the one-line report turns into a permission error.
  const refusal = causeOf(err, PermissionViolationError);
  if (kind === NatsFailure.PermissionDenied && refusal) {
    return new PublishError(a.subject, refusal.message, { cause: refusal });
  }
  if (kind === NatsFailure.MessageTooLarge) {
    return fail(
      `stream ${a.stream} refused a message of ${a.bytes.toLocaleString("en-US")} bytes: ${message}`,
      `send a smaller message, or raise the stream's max message size (\`orderflow setup --interactive\`; \`orderflow info\` shows it)`,
    );
  }
  if (kind === NatsFailure.Busy) {
    return fail(
      `stream ${a.stream} stayed too busy to store it: ${message}`,
      "the server buffers at most 10,000 messages waiting to be stored per stream (2.11+); publish more slowly or with a smaller window, and check the server's disk and CPU",
    );
  }
  if (kind === NatsFailure.JetStreamApi) {
    return fail(
      `stream ${a.stream} refused it: ${message}`,
      "see the stream's limits and state with `orderflow info`",
    );
  }
  if (kind === NatsFailure.Closed) {
    return fail(message, "the connection to NATS closed; check the server is up and run the command again");
  }
  if (kind === NatsFailure.Timeout) {
    return fail(
      `no PubAck within ${a.timeoutMs} ms`,
      `the server may be down, restarting or overloaded; check it is up and that stream ${a.stream} exists (\`orderflow info\`)`,
    );
  }
  // nats.js reports "no responders" for a publish as "jetstream is not enabled", but with the
  // stream checked just before, the likelier cause is that no stream takes the subject (any more).
  if (kind === NatsFailure.JetStreamDisabled || kind === NatsFailure.NoResponders) {
    return fail(
      "no stream stored it (no responders)",
      `check that stream ${a.stream} still exists and takes ${a.subject} (\`orderflow info\`; \`orderflow setup\` creates it), and that the server has JetStream`,
    );
  }
  return fail(message, `check the server is up and stream ${a.stream} exists (\`orderflow info\`)`);
}
