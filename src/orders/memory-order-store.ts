import { SEED_STEPS } from "../stages/order-key.js";
import { OrderIndex } from "./order-index.js";
import type * as store from "./order-store.js";

/** The index in the process's heap (~120 bytes per order): nothing lasts, every start re-reads. */
export class MemoryOrderStore implements store.OrderStore {
  readonly description = "memory";
  private index: OrderIndex;

  /** `steps`: the pipeline's (stepsOf), the seed's when left out. */
  constructor(private readonly steps: readonly string[] = SEED_STEPS) {
    this.index = new OrderIndex(undefined, steps);
  }

  async open(): Promise<store.IndexCheckpoint | undefined> {
    return undefined;
  }

  async write(entries: readonly store.IndexEntry[]): Promise<void> {
    for (const e of entries) this.index.add(e.key, e.stage, e.seq);
  }

  async lookup(key: string): Promise<store.IndexedMessage[]> {
    return this.index.messagesOf(key);
  }

  counts(): store.OrderStoreCounts {
    return { orders: this.index.size, messages: this.index.messageCount };
  }

  async clear(): Promise<void> {
    this.index = new OrderIndex(undefined, this.steps);
  }

  async close(): Promise<void> {
    // Nothing to release: the heap index goes with the process.
  }
}
