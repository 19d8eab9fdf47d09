interface Waiter {
  through: number;
  resolve: () => void;
}

/**
 * How far a reader has read a stream (every sequence up to {@link through}), and the lookups
 * waiting for it to get further: a lookup that knows the stream's last sequence waits until the
 * index holds it, so an order published a moment ago is found.
 */
export class ReadProgress {
  private seq = 0;
  private waiters: Waiter[] = [];

  get through(): number {
    return this.seq;
  }

  /** Read through `seq`; releases whoever waited for it. */
  advance(seq: number): void {
    this.seq = seq;
    this.release();
  }

  /** Back to nothing read (the stream is being read anew); nobody is released. */
  reset(): void {
    this.seq = 0;
  }

  /** Releases the waiters that the current position satisfies. */
  release(): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (this.seq >= w.through) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  /** Releases everyone, however far they wanted: the reader is stopping. */
  releaseAll(): void {
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
  }

  /** Resolves once read up to `through`, or after `maxMs` (Infinity: no limit). */
  waitThrough(through: number, maxMs: number): Promise<void> {
    if (this.seq >= through) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter: Waiter = {
        through,
        resolve: () => {
          if (timer) clearTimeout(timer);
          resolve();
        },
      };
      const timer = Number.isFinite(maxMs)
        ? setTimeout(() => {
            this.waiters = this.waiters.filter((w) => w !== waiter);
            resolve();
          }, maxMs)
        : undefined;
      this.waiters.push(waiter);
    });
  }
}
