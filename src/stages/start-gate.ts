/** A rate as `--rate-limit` takes it: `limit` starts in any window of `windowMs`. */
export interface StartRate {
  limit: number;
  windowMs: number;
}

const UNIT_MS: Readonly<Record<string, number>> = Object.freeze({ s: 1_000, m: 60_000 });

/** `50/s`, `600/m` or a bare `50` (per second); undefined when the text is not a rate. */
export function parseStartRate(text: string): StartRate | undefined {
  const m = /^\s*(\d+)\s*(?:\/\s*(s|m))?\s*$/.exec(text);
  if (!m) return undefined;
  return { limit: Number(m[1]), windowMs: UNIT_MS[m[2] ?? "s"] as number };
}

/**
 * Admits at most `limit` handler starts in any sliding window of `windowMs` (`--rate-limit`). A
 * sliding window rather than a token bucket refilled in steps: a service that allows N calls per
 * second never sees N+1 inside one second, whichever second it counts. The ring holds the last
 * `limit` start times; a start is free when the oldest of them left the window.
 */
export class StartGate {
  private readonly starts: Float64Array;
  private next = 0;

  constructor(
    private readonly rate: StartRate,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!Number.isInteger(rate.limit) || rate.limit < 1 || !(rate.windowMs > 0)) {
      throw new RangeError(`a start rate needs a whole limit of at least 1, got ${rate.limit}`);
    }
    this.starts = new Float64Array(rate.limit).fill(Number.NEGATIVE_INFINITY);
  }

  /** Takes a start if the window has room; false leaves the gate as it was. */
  tryTake(): boolean {
    const t = this.now();
    if (t - (this.starts[this.next] as number) < this.rate.windowMs) return false;
    this.starts[this.next] = t;
    this.next = (this.next + 1) % this.starts.length;
    return true;
  }

  /** Milliseconds until tryTake() can succeed (0: now). */
  waitMs(): number {
    return Math.max(0, (this.starts[this.next] as number) + this.rate.windowMs - this.now());
  }
}
