/**
 * Whether a stage worker's pull requests reach its consumer, from the answers they get: what
 * /readyz of a worker reports. There is no cheaper or surer sign: a consumer info needs a
 * permission, and a flush after a pull proves nothing on 2.9, where nobody answers a pull on a
 * consumer that does not exist.
 */
export const PullState = {
  /** Pulls are out and nothing has answered yet (just started, or just reconnected). */
  Starting: "starting",
  /** The consumer answered: a delivery, or a status that only an existing consumer sends (408 at expiry…). */
  Pulling: "pulling",
  /** The consumer is gone: its open pulls were ended with 409 Consumer Deleted, or a pull found nobody (503). */
  ConsumerMissing: "consumer-missing",
  /**
   * Pulls ended past their expiry without a word: how 2.9 answers a consumer that does not exist,
   * and how any server forgets pulls on a restart or a consumer leader change.
   */
  Unanswered: "unanswered",
  /** The worker stopped pulling (stop() or a fatal error). */
  Stopped: "stopped",
} as const;
export type PullState = (typeof PullState)[keyof typeof PullState];

/** A stage worker's pull state, since when, and why when it is not pulling. */
export interface PullStatus {
  state: PullState;
  /** When the state last changed, ms since the epoch. */
  sinceMs: number;
  /** What the server answered (or did not) that put it there; undefined while starting or pulling. */
  reason: string | undefined;
}

/** Statuses on a pull's reply subject that say the consumer is not there. */
export function isConsumerGone(code: number, description: string): boolean {
  // 503: no responders on the consumer's MSG.NEXT subject (2.10+; 2.9 stays silent).
  return code === 503 || (code === 409 && /consumer deleted/i.test(description));
}

/** Keeps a worker's PullStatus; the worker tells it what each pull came to. */
export class PullStatusTracker {
  private current: PullStatus = { state: PullState.Starting, sinceMs: Date.now(), reason: undefined };

  constructor(private readonly changed: (status: PullStatus, previous: PullStatus) => void) {}

  get status(): PullStatus {
    return { ...this.current };
  }

  /** A delivery, or a status other than "no consumer" (cheap to call per delivery). */
  answered(): void {
    if (this.current.state !== PullState.Pulling) this.set(PullState.Pulling, undefined);
  }

  gone(reason: string): void {
    this.set(PullState.ConsumerMissing, reason);
  }

  unanswered(reason: string): void {
    this.set(PullState.Unanswered, reason);
  }

  /** After a reconnect: what the old server said no longer holds. */
  restart(): void {
    this.set(PullState.Starting, undefined);
  }

  stopped(): void {
    this.set(PullState.Stopped, undefined);
  }

  private set(state: PullState, reason: string | undefined): void {
    if (this.current.state === state && this.current.reason === reason) return;
    const previous = this.current;
    this.current = { state, sinceMs: Date.now(), reason };
    this.changed(this.status, previous);
  }
}
