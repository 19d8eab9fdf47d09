import { type NatsConnection, PermissionViolationError } from "@nats-io/nats-core";
import { errorMessage, PermissionError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";

/** What a worker does about its connection: bound once at start. */
export interface ConnectionHooks {
  /** Whether the worker has stopped: the watch ends with it. */
  stopped(): boolean;
  /** Reconnected: pull requests do not survive a reconnect reliably; the worker asks again. */
  reconnected(): void;
  /** Denied permission, or the connection closed: the worker cannot go on. */
  fail(err: Error): void;
}

/** Watches the connection's status and its close for a worker named `name`, until it stops. */
export function watchWorkerConnection(
  nc: NatsConnection,
  name: string,
  logger: Logger,
  hooks: ConnectionHooks,
): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (hooks.stopped()) break;
      if (s.type === "reconnect") {
        hooks.reconnected();
      } else if (s.type === "error" && s.error instanceof PermissionViolationError) {
        hooks.fail(
          new PermissionError(`${name}: permission denied to ${s.error.operation} "${s.error.subject}"`, {
            subject: s.error.subject,
            hint: "grant this user the subjects in deploy/nats-server.conf for its role",
            cause: s.error,
          }),
        );
      }
    }
  })().catch((err: unknown) => logger.error({ err }, "connection watcher failed"));
  nc.closed()
    .then((err) => {
      if (!hooks.stopped()) hooks.fail(err ?? new Error("NATS connection closed"));
    })
    .catch((err: unknown) => logger.error({ err }, "connection close watcher failed"));
}

/** Sends the acks written so far before a worker lets go, where the connection can still carry them. */
export async function flushAcks(nc: NatsConnection, logger: Logger): Promise<void> {
  if (nc.isClosed() || nc.isDraining()) return;
  // While disconnected a flush cannot complete, and the acks written meanwhile are lost: the
  // client drops its outbound buffer when it reconnects. Their inputs come back after ack wait
  // and the outputs' msg ids make the second publish a duplicate (docs/reliability.md).
  await nc
    .flush()
    .catch((err: unknown) => logger.warn({ err: errorMessage(err) }, "could not flush acks on stop"));
}
