import { STAGES, type Stage } from "../topology/spec.js";

const INITIAL_CAPACITY = 1024;

/**
 * Order key → stream sequences of its messages, in memory and compact: one map entry per order and
 * one Float64Array column per stage (8 bytes per order and stage), with a side map for the rare
 * order that has several messages on one stage (re-submitted, or published twice outside the
 * duplicate window). About 120 bytes per order with short order numbers (measured).
 */
export class OrderIndex {
  private readonly slots = new Map<string, number>();
  private columns: Float64Array[] = STAGES.map(() => new Float64Array(INITIAL_CAPACITY));
  private readonly extra = new Map<number, number[]>();
  private capacity = INITIAL_CAPACITY;
  private messages = 0;

  /** Records that message `seq` on `stage` belongs to order `key`. */
  add(key: string, stage: Stage, seq: number): void {
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = this.slots.size;
      if (slot >= this.capacity) this.grow();
      this.slots.set(key, slot);
    }
    const column = this.columns[STAGES.indexOf(stage)] as Float64Array;
    const current = column[slot] as number;
    if (current === 0) column[slot] = seq;
    else if (current !== seq) {
      const more = this.extra.get(slot);
      if (more) {
        if (!more.includes(seq)) more.push(seq);
      } else this.extra.set(slot, [seq]);
    }
    this.messages++;
  }

  /** Every stream sequence recorded for the order, ascending; empty when unknown. */
  lookup(key: string): number[] {
    const slot = this.slots.get(key);
    if (slot === undefined) return [];
    const out: number[] = [];
    for (const column of this.columns) {
      const seq = column[slot] as number;
      if (seq !== 0) out.push(seq);
    }
    out.push(...(this.extra.get(slot) ?? []));
    return out.sort((a, b) => a - b);
  }

  /** Orders known. */
  get size(): number {
    return this.slots.size;
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
