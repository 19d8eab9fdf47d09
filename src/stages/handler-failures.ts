/**
 * How many times the handler has failed on each input, by stream sequence: the retry budget.
 *
 * The server's delivery count also counts redeliveries that were not the handler's doing (a PubAck
 * that timed out, the server away, an ack lost on reconnect), so a budget read from it could
 * dead-letter an order on its first real handler error after an outage. Only handler failures are
 * recorded here, by the worker that saw them; an input that fails on several workers of one stage
 * gets up to `maxAttempts` tries on each (documented in docs/reliability.md).
 *
 * Bounded: an input retried here and then completed by another worker would otherwise stay
 * forever; the oldest records go first (a Map iterates in insertion order).
 */
export class HandlerFailures {
  private readonly bySeq = new Map<number, number>();

  constructor(private readonly limit = 100_000) {}

  /** Handler failures recorded for the input at `seq` (0 when none). */
  of(seq: number): number {
    return this.bySeq.get(seq) ?? 0;
  }

  /** The handler failed on its `attempt`-th try of the input at `seq`. */
  record(seq: number, attempt: number): void {
    this.bySeq.delete(seq);
    this.bySeq.set(seq, attempt);
    if (this.bySeq.size > this.limit) {
      const oldest = this.bySeq.keys().next();
      if (!oldest.done) this.bySeq.delete(oldest.value);
    }
  }

  /** The input has ended (stored or dead-lettered). */
  forget(seq: number): void {
    if (this.bySeq.size > 0) this.bySeq.delete(seq);
  }

  get size(): number {
    return this.bySeq.size;
  }
}
