import { JetStreamApiError } from "@nats-io/jetstream";
import {
  AuthorizationError,
  ClosedConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  PermissionViolationError,
  TimeoutError,
  UserAuthenticationExpiredError,
} from "@nats-io/nats-core";

/**
 * What a nats.js (or socket) error means, decided here and nowhere else: the CLI's one-line
 * report, the publish errors, the connect errors and the dashboard's HTTP statuses all ask this.
 */
export const NatsFailure = {
  /** The message with its headers is over the server's max_payload (the client refuses it). */
  MaxPayload: "max-payload",
  /** The server refused a subject to this user (publish, subscribe, or a reply inbox). */
  PermissionDenied: "permission-denied",
  /** Credentials refused or expired, or a creds file nats.js cannot parse. */
  AuthRejected: "auth-rejected",
  /** The TLS handshake failed: an unknown CA, a self-signed or mismatched certificate. */
  Tls: "tls",
  /** The stream's max_msg_size refused it. */
  MessageTooLarge: "message-too-large",
  /**
   * The stream cannot take it now, try again shortly: more than its ingest buffer is waiting to be
   * stored (429, 2.11+), or the same Nats-Msg-Id is still being stored (10158, 2.11+). Never a loss
   * and never a dead letter.
   */
  Busy: "busy",
  /** Any other JetStream API refusal. */
  JetStreamApi: "jetstream-api",
  /** The connection is closed or draining: nothing more goes out on it. */
  Closed: "closed",
  /** No answer in time: the server is down, restarting or overloaded. */
  Timeout: "timeout",
  /** Nobody subscribes to the subject (no stream takes it, no order index runs). */
  NoResponders: "no-responders",
  /** The server, or this account, has no JetStream. */
  JetStreamDisabled: "jetstream-disabled",
  /** Lost the connection for now; the client is reconnecting. */
  Disconnected: "disconnected",
  Other: "other",
} as const;
export type NatsFailure = (typeof NatsFailure)[keyof typeof NatsFailure];

/** JetStream's error code for a message over the stream's max_msg_size. */
const STREAM_MSG_SIZE_EXCEEDED = 10054;

/**
 * JetStream's codes for "try again later": JSStreamTooManyRequests (status 429) and
 * JSStreamDuplicateMessageConflict, a duplicate msg id whose first copy is still being stored.
 */
const RETRY_LATER_ERR_CODES: ReadonlySet<number> = new Set([10167, 10158]);
const TOO_MANY_REQUESTS_STATUS = 429;

/** A PubAck error (err_code, status) that means "publish it again shortly". */
export function isRetryLater(errCode: number | undefined, status: number | undefined): boolean {
  return (errCode !== undefined && RETRY_LATER_ERR_CODES.has(errCode)) || status === TOO_MANY_REQUESTS_STATUS;
}

/** How deep a cause chain is followed (the JetStream client wraps core errors once or twice). */
const CAUSE_DEPTH = 5;

// biome-ignore lint/suspicious/noExplicitAny: any constructor of an Error subclass
type ErrorClass<T extends Error> = abstract new (...args: any[]) => T;

/** The first error of class `cls` in `err`'s cause chain (`err` itself first). */
export function causeOf<T extends Error>(err: unknown, cls: ErrorClass<T>): T | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < CAUSE_DEPTH; e = e.cause, depth++) {
    if (e instanceof cls) return e;
  }
  return undefined;
}

/**
 * By class and JetStream code first; by message only for what nats.js (or Node's TLS) reports as a
 * plain Error: a header-inflated max_payload, a creds file it cannot parse, certificate failures,
 * and errors that have crossed a process boundary.
 */
export function natsFailure(err: unknown): NatsFailure {
  const message = err instanceof Error ? err.message : String(err);
  if (/max_payload/i.test(message)) return NatsFailure.MaxPayload;
  // Before the cause chain: it wraps the NoRespondersError it was made from. nats.js does not
  // export the class, so its name is what it can be known by.
  if (err instanceof Error && err.name === "JetStreamNotEnabled") return NatsFailure.JetStreamDisabled;
  if (causeOf(err, PermissionViolationError)) return NatsFailure.PermissionDenied;
  if (causeOf(err, AuthorizationError) || causeOf(err, UserAuthenticationExpiredError)) {
    return NatsFailure.AuthRejected;
  }
  const api = causeOf(err, JetStreamApiError);
  if (api) {
    if (isRetryLater(api.code, api.status)) return NatsFailure.Busy;
    return api.code === STREAM_MSG_SIZE_EXCEEDED || /message size exceeds/i.test(message)
      ? NatsFailure.MessageTooLarge
      : NatsFailure.JetStreamApi;
  }
  if (causeOf(err, ClosedConnectionError) || causeOf(err, DrainingConnectionError)) return NatsFailure.Closed;
  if (causeOf(err, TimeoutError)) return NatsFailure.Timeout;
  if (causeOf(err, NoRespondersError)) return NatsFailure.NoResponders;
  if (/authorization|authentication|user.*password|credentials/i.test(message))
    return NatsFailure.AuthRejected;
  if (/permission/i.test(message)) return NatsFailure.PermissionDenied;
  if (/certificate|self[- ]signed|\btls\b|\bssl\b/i.test(message)) return NatsFailure.Tls;
  if (/jetstream (is )?not enabled/i.test(message)) return NatsFailure.JetStreamDisabled;
  if (/timeout/i.test(message)) return NatsFailure.Timeout;
  if (/no responders/i.test(message)) return NatsFailure.NoResponders;
  if (/disconnect|closed/i.test(message)) return NatsFailure.Disconnected;
  return NatsFailure.Other;
}
