import { PermissionViolationError } from "@nats-io/nats-core";
import { CommanderError } from "commander";
import { ErrorCode, OrderflowError, PermissionError } from "../common/errors.js";
import { NatsFailure, natsFailure } from "../common/nats-errors.js";

/**
 * Turns any error that reached the top into one line on stderr and an exit code. Stack traces only
 * with --debug: operators need what failed and how to fix it, not our internals.
 */
export function reportError(err: unknown, debug: boolean): number {
  if (err instanceof CommanderError) {
    // commander already printed its own one-line message (unknown option, missing argument, …).
    return err.exitCode;
  }
  // A refused request arrives as a RequestError whose cause is the server's permission violation.
  const violation = err instanceof Error && err.cause instanceof PermissionViolationError ? err.cause : err;
  if (violation instanceof PermissionViolationError) err = permissionError(violation);
  if (isJetStreamDisabled(err)) {
    // The server answered, so this is not "unreachable": it lacks JetStream.
    err = new OrderflowError(
      ErrorCode.JetStreamDisabled,
      "the NATS server has no JetStream for this account",
      {
        hint: "start the server with JetStream (`nats-server -js`, or `jetstream {}` in its config) and enable it for the account",
        cause: err,
      },
    );
  }
  if (err instanceof OrderflowError) {
    process.stderr.write(`orderflow: ${err.oneLine()}\n`);
  } else {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`orderflow: unexpected error: ${message} (rerun with --debug for details)\n`);
  }
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return 1;
}

/** The client says "jetstream is not enabled" (no JetStream on the server, or not for this account). */
function isJetStreamDisabled(err: unknown): boolean {
  return (
    err instanceof Error &&
    !(err instanceof OrderflowError) &&
    natsFailure(err) === NatsFailure.JetStreamDisabled
  );
}

/** The server refused a subject: say which, and the usual cause with deploy/nats-server.conf's users. */
function permissionError(err: PermissionViolationError): PermissionError {
  const inbox = err.operation === "subscription" && err.subject.startsWith("_INBOX.");
  return new PermissionError(err.message, {
    subject: err.subject,
    cause: err,
    hint: inbox
      ? "this user may not use the default reply inbox: pass --inbox-prefix _INBOX_<user>"
      : "this user's permissions do not allow it; use a user that may (see deploy/nats-server.conf)",
  });
}
