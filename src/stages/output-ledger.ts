/**
 * Answers, for an input redelivered after the stream's duplicate window, whether its stage already
 * stored an output for the order. Inside the window `Nats-Msg-Id` makes a second output a no-op;
 * past it (an outage, a stopped deployment, a lost ack found late) only a look at what is stored can.
 */
export interface OutputLedger {
  /**
   * Whether a message for `orderNo` is stored on `outputSubject` after stream sequence `afterSeq`
   * (the input's: an earlier submission of the same order number does not count). `undefined` when
   * it cannot be told (no index answers, or the index has not read up to the stream's end).
   */
  hasOutput(query: {
    orderNo: string;
    outputSubject: string;
    afterSeq: number;
  }): Promise<boolean | undefined>;
}

/** What a stage does with an input redelivered past the duplicate window. */
export const LateRedeliveries = {
  /** Ask the ledger; an output already stored is acked without a second one; unknown is held. */
  Verify: "verify",
  /** Publish as for any delivery (a second output past the window is possible). */
  Publish: "publish",
} as const;
export type LateRedeliveries = (typeof LateRedeliveries)[keyof typeof LateRedeliveries];

/**
 * Whether a redelivery may fall outside the duplicate window: its input was stored longer ago than
 * the window, less a margin for the clocks of worker and server (the output came after the input,
 * so an input younger than the window means an output younger still, which dedupe covers).
 */
export function pastDuplicateWindow(storedAtMs: number, nowMs: number, duplicateWindowMs: number): boolean {
  const margin = Math.min(5_000, duplicateWindowMs / 2);
  return nowMs - storedAtMs > duplicateWindowMs - margin;
}
