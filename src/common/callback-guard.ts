import { errorMessage } from "./errors.js";
import type { Logger } from "./logger.js";

/**
 * Failures caught at the edge of a callback that the NATS client or a timer calls.
 *
 * An exception thrown inside a subscription callback ends nats-core's read loop ("reader closed"):
 * the connection stays open and receives nothing until a ping timeout forces a reconnect, so one
 * bad message or one throwing listener silently stops a worker. A throw from a timer callback ends
 * the process. Every such callback in orderflow goes through a {@link CallbackGuard}.
 */
export interface CallbackGuardOptions {
  /**
   * An error already logged (same part, class and message) is logged again at most this often,
   * with how many times it came since. Also the window of `maxLinesPerWindow`. Default 60,000 ms.
   */
  repeatLogMs: number;
  /**
   * Most lines one guard logs per `repeatLogMs`: errors whose messages differ every time (a
   * sequence number in them) must not flood the log either. The next line says how many were
   * left out. Default 20.
   */
  maxLinesPerWindow: number;
  /** Distinct errors remembered; the oldest is forgotten first (and logged as new if it comes back). Default 200. */
  maxDistinct: number;
  /** Clock in ms; tests give their own. Default `Date.now`. */
  now: () => number;
}

export const DEFAULT_CALLBACK_GUARD_OPTIONS: Readonly<CallbackGuardOptions> = Object.freeze({
  repeatLogMs: 60_000,
  maxLinesPerWindow: 20,
  maxDistinct: 200,
  now: Date.now,
});

interface Seen {
  loggedAt: number;
  /** Times it came since it was last logged. */
  since: number;
}

/**
 * Process-wide failure counts by part, for `/metrics` (`orderflow_callback_errors_total{part}`):
 * the one thing shared across guards, as a metric is. What gets logged is each guard's own.
 */
const processTotals = new Map<string, number>();

/** Failures so far in this process, by part, across every guard. */
export function callbackErrorCounts(): ReadonlyMap<string, number> {
  return processTotals;
}

/**
 * One part's (a worker's, a system's, a feed's) record of its callback failures: each distinct
 * error (part, class, message) is logged when it first comes and then at most once per
 * `repeatLogMs` with a count, so a new error is never hidden behind an old one and a flood of the
 * same one does not drown the log.
 */
export class CallbackGuard {
  private readonly o: CallbackGuardOptions;
  private readonly seen = new Map<string, Seen>();
  private readonly byPart = new Map<string, number>();
  private windowStart = Number.NEGATIVE_INFINITY;
  private linesInWindow = 0;
  private leftOut = 0;

  constructor(
    private readonly logger: Logger,
    options: Partial<CallbackGuardOptions> = {},
  ) {
    this.o = { ...DEFAULT_CALLBACK_GUARD_OPTIONS, ...options };
  }

  /** Records a failure of the callback `part` (e.g. `monitor feed`, `processor outcome listener`). */
  report(part: string, err: unknown): void {
    this.byPart.set(part, (this.byPart.get(part) ?? 0) + 1);
    processTotals.set(part, (processTotals.get(part) ?? 0) + 1);
    const name = err instanceof Error ? err.name : typeof err;
    const message = errorMessage(err);
    const key = `${part}\n${name}\n${message}`;
    const now = this.o.now();
    const seen = this.seen.get(key);
    if (seen === undefined) {
      this.remember(key, { loggedAt: now, since: 0 });
      this.log(now, part, message, 0);
    } else if (now - seen.loggedAt >= this.o.repeatLogMs) {
      const repeats = seen.since + 1;
      seen.since = 0;
      seen.loggedAt = now;
      this.log(now, part, message, repeats);
    } else {
      seen.since++;
    }
  }

  /** `fn`, made safe to hand to the client or a timer: it never throws. */
  wrap<A extends unknown[]>(part: string, fn: (...args: A) => void): (...args: A) => void {
    return (...args: A) => {
      try {
        fn(...args);
      } catch (err) {
        this.report(part, err);
      }
    };
  }

  /** Failures this guard has seen, by part. */
  counts(): ReadonlyMap<string, number> {
    return this.byPart;
  }

  private remember(key: string, seen: Seen): void {
    this.seen.set(key, seen);
    if (this.seen.size > this.o.maxDistinct) {
      const oldest = this.seen.keys().next();
      if (!oldest.done) this.seen.delete(oldest.value);
    }
  }

  private log(now: number, part: string, message: string, repeats: number): void {
    if (now - this.windowStart >= this.o.repeatLogMs) {
      this.windowStart = now;
      this.linesInWindow = 0;
    }
    if (this.linesInWindow >= this.o.maxLinesPerWindow) {
      this.leftOut++;
      return;
    }
    this.linesInWindow++;
    const fields: Record<string, unknown> = { part, err: message };
    if (repeats > 0) fields.repeats = repeats;
    if (this.leftOut > 0) fields.leftOut = this.leftOut;
    this.leftOut = 0;
    this.logger.error(
      fields,
      repeats > 0
        ? `${part} failed again (${repeats} times since it was last logged); carrying on`
        : `${part} failed; carrying on (counted in orderflow_callback_errors_total)`,
    );
  }
}

/**
 * `fn` behind a guard of its own: for a part that wraps one callback and has no guard to share.
 * Its failures are rate-limited like any guard's.
 */
export function guard<A extends unknown[]>(
  part: string,
  logger: Logger,
  fn: (...args: A) => void,
): (...args: A) => void {
  return new CallbackGuard(logger).wrap(part, fn);
}
