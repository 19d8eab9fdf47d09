import { errorMessage } from "./errors.js";
import type { Logger } from "./logger.js";

/**
 * Failures caught at the edge of a callback that the NATS client or a timer calls.
 *
 * An exception thrown inside a subscription callback ends nats-core's read loop ("reader closed"):
 * the connection stays open and receives nothing until a ping timeout forces a reconnect, so one
 * bad message or one throwing listener silently stops a worker. A throw from a timer callback ends
 * the process. Every such callback in orderflow goes through {@link guard}: the failure is logged
 * the first time for each part (a flood of the same failure would drown the log) and counted, and
 * `/metrics` exports the counts as `orderflow_callback_errors_total{part}`.
 */
const counts = new Map<string, number>();

/** Records a failure of the callback `part` (e.g. `monitor-feed`, `processor outcome listener`). */
export function reportCallbackError(part: string, err: unknown, logger: Logger): void {
  const n = (counts.get(part) ?? 0) + 1;
  counts.set(part, n);
  if (n === 1) {
    logger.error(
      { part, err: errorMessage(err) },
      `${part} failed; carrying on (further failures of it are counted in orderflow_callback_errors_total)`,
    );
  }
}

/** Failures so far, by part. */
export function callbackErrorCounts(): ReadonlyMap<string, number> {
  return counts;
}

/** `fn`, made safe to hand to the client or a timer: it never throws. */
export function guard<A extends unknown[]>(
  part: string,
  logger: Logger,
  fn: (...args: A) => void,
): (...args: A) => void {
  return (...args: A) => {
    try {
      fn(...args);
    } catch (err) {
      reportCallbackError(part, err, logger);
    }
  };
}
