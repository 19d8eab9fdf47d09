import { SEED_STEPS } from "../stages/order-key.js";
import { type IndexedMessage, indexSteps } from "./order-store.js";

const INITIAL_CAPACITY = 1024;
/** V8 refuses a Map more than 2^24 entries (16,777,216); each map of slots stays below it. */
const MAP_LIMIT = 2 ** 24 - 1;

/**
 * Order key → stream sequences of its messages, in memory and compact: one map entry per order and
 * one Float64Array column per step (8 bytes per order and step), with a side map for the rare
 * order that has several messages on one stage (re-submitted, or published twice outside the
 * duplicate window). About 120 bytes per order with short order numbers (measured).
 *
 * The slots live in a chain of maps, a new one begun when the last is full, because one Map holds
 * at most 2^24 entries and throws past that (which stopped the reader for good at ~16.7M orders).
 */
export class OrderIndex {
  private readonly maps: Map<string, number>[] = [new Map()];
  private orders = 0;
  private columns: Float64Array[];
  /** Slot → further [seq, stage column] pairs. */
  private readonly extra = new Map<number, [number, number][]>();
  private capacity = INITIAL_CAPACITY;
  private messages = 0;

  /** What each column holds: the pipeline's steps, then `failed` (see indexSteps). */
  private readonly table: readonly string[];

  constructor(
    private readonly mapLimit = MAP_LIMIT,
    steps: readonly string[] = SEED_STEPS,
  ) {
    this.table = indexSteps(steps);
    this.columns = this.table.map(() => new Float64Array(INITIAL_CAPACITY));
  }

  /** Records that message `seq` on `stage` belongs to order `key`; a stage not in the table is ignored. */
  add(key: string, stage: string, seq: number): void {
    const c = this.table.indexOf(stage);
    if (c < 0) return;
    let slot = this.slotOf(key);
    if (slot === undefined) {
      slot = this.orders++;
      if (slot >= this.capacity) this.grow();
      let last = this.maps[this.maps.length - 1] as Map<string, number>;
      if (last.size >= this.mapLimit) {
        last = new Map();
        this.maps.push(last);
      }
      last.set(key, slot);
    }
    const column = this.columns[c] as Float64Array;
    const current = column[slot] as number;
    if (current === 0) column[slot] = seq;
    else if (current !== seq) {
      const more = this.extra.get(slot);
      if (more) {
        if (!more.some(([s]) => s === seq)) more.push([seq, c]);
      } else this.extra.set(slot, [[seq, c]]);
    }
    this.messages++;
  }

  /** Every stream sequence recorded for the order, ascending; empty when unknown. */
  lookup(key: string): number[] {
    return this.messagesOf(key).map((m) => m.seq);
  }

  /** Every message recorded for the order with its stage, ascending by sequence. */
  messagesOf(key: string): IndexedMessage[] {
    const slot = this.slotOf(key);
    if (slot === undefined) return [];
    const out: IndexedMessage[] = [];
    this.columns.forEach((column, c) => {
      const seq = column[slot] as number;
      if (seq !== 0) out.push({ seq, stage: this.table[c] as string });
    });
    for (const [seq, c] of this.extra.get(slot) ?? []) out.push({ seq, stage: this.table[c] as string });
    return out.sort((a, b) => a.seq - b.seq);
  }

  /** Orders known. */
  get size(): number {
    return this.orders;
  }

  private slotOf(key: string): number | undefined {
    for (const m of this.maps) {
      const slot = m.get(key);
      if (slot !== undefined) return slot;
    }
    return undefined;
  }

  /** Messages recorded. */
  get messageCount(): number {
    return this.messages;
  }

  private grow(): void {
    this.capacity *= 2;
    this.columns = this.columns.map((old) => {
      const next = new Float64Array(this.capacity);
      next.set(old);
      return next;
    });
  }
}
