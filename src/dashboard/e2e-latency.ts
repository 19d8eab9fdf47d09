import type { OrderEvent } from "../monitor/order-event.js";
import { DEFAULT_TOPOLOGY, finalStep, intakeStep, Stage } from "../topology/spec.js";

/** Where an order's clock starts and stops: the pipeline's intake and final steps. */
export interface E2eSteps {
  intake: string;
  final: string;
}

/**
 * End-to-end latency of orders from the MONITOR feed: the stream's timestamp of the final step
 * (`completed`) minus that of the intake step (`received`), matched by order number. Orders whose completion never shows up (dead-lettered,
 * or lost by the at-most-once feed) are forgotten oldest first once `maxOpen` are waiting.
 */
export class E2eLatencyTracker {
  private readonly open = new Map<string, number>();

  constructor(
    private readonly observe: (ms: number) => void,
    private readonly maxOpen = 100_000,
    private readonly steps: E2eSteps = {
      intake: intakeStep(DEFAULT_TOPOLOGY),
      final: finalStep(DEFAULT_TOPOLOGY),
    },
  ) {}

  onEvent(e: OrderEvent): void {
    if (e.orderNo === undefined) return;
    // Compared as strings: an event's stage is whatever step token its subject ends in.
    const stage: string = e.stage;
    if (stage === this.steps.intake) {
      // A re-submitted order restarts its clock; delete first so it moves to the young end.
      this.open.delete(e.orderNo);
      this.open.set(e.orderNo, e.time.getTime());
      if (this.open.size > this.maxOpen) {
        const oldest = this.open.keys().next();
        if (!oldest.done) this.open.delete(oldest.value);
      }
    } else if (stage === this.steps.final) {
      const received = this.open.get(e.orderNo);
      if (received === undefined) return;
      this.open.delete(e.orderNo);
      this.observe(Math.max(0, e.time.getTime() - received));
    } else if (stage === Stage.Failed) {
      this.open.delete(e.orderNo);
    }
  }

  /** Orders received and not yet completed, as far as this tracker knows. */
  get waiting(): number {
    return this.open.size;
  }
}
