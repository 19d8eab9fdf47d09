import { errorMessage } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { IndexEntry, OrderStore } from "./order-store.js";

export interface IndexBatchWriterEvents {
  /** A batch and its checkpoint are stored: everything through `through` is answerable. */
  written(through: number, reachedEnd: boolean): void;
  /** Nothing read is left unwritten (a paused reader may go on). */
  drained(): void;
  /** Nothing new is read any more: only flush() writes then. */
  stopping(): boolean;
}

/**
 * What the indexer has read and not yet written, and the writes: batches of `batchMessages` or
 * whatever `batchMs` collected, each with its checkpoint (stream creation time, last sequence read),
 * one at a time. A failed write keeps its messages for the next try (a full disk may be freed).
 */
export class IndexBatchWriter {
  private pending: IndexEntry[] = [];
  private readSeq = 0;
  private writtenSeq = 0;
  /** A message read said nothing followed it: once its batch is written, the end is reached. */
  private readEnd = false;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private failing = false;

  constructor(
    private readonly store: OrderStore,
    private readonly o: { batchMessages: number; batchMs: number },
    private readonly streamCreated: () => string,
    private readonly logger: Logger,
    private readonly on: IndexBatchWriterEvents,
  ) {}

  /** The last sequence read (written or not). */
  get lastRead(): number {
    return this.readSeq;
  }

  get unwritten(): number {
    return this.pending.length;
  }

  /** Starts (again) after `seq`, everything before it written: at start from the checkpoint, 0 on a rebuild. */
  resetTo(seq: number): void {
    this.pending = [];
    this.readEnd = false;
    this.readSeq = seq;
    this.writtenSeq = seq;
  }

  /** Message `seq` was read, belonging to `entry` (none: not an order's); `end`: nothing follows it. */
  add(entry: IndexEntry | undefined, seq: number, end: boolean): void {
    if (entry) this.pending.push(entry);
    this.readSeq = seq;
    if (end) this.readEnd = true;
    this.schedule(this.pending.length >= this.o.batchMessages || this.readEnd ? 0 : this.o.batchMs);
  }

  /** Waits for the write under way, with no new one scheduled (stop, rebuild). */
  async settle(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.writing;
  }

  /** Writes what was read as one batch with its checkpoint; only then is it answerable. */
  flush(): Promise<void> {
    if (this.writing) return this.writing;
    if (this.readSeq === this.writtenSeq && this.pending.length === 0) {
      if (this.readEnd) {
        this.readEnd = false;
        this.on.written(this.writtenSeq, true);
      }
      return Promise.resolve();
    }
    const entries = this.pending;
    const through = this.readSeq;
    const end = this.readEnd;
    this.pending = [];
    this.readEnd = false;
    this.writing = this.store
      .write(entries, { streamCreated: this.streamCreated(), through })
      .then(
        () => {
          this.writtenSeq = through;
          if (this.failing) this.logger.info("order index writes again");
          this.failing = false;
          this.on.written(through, end);
        },
        (err: unknown) => {
          this.pending = entries.concat(this.pending);
          this.readEnd ||= end;
          if (!this.failing) {
            this.logger.error(
              { err: errorMessage(err), store: this.store.description },
              "order index cannot write",
            );
          }
          this.failing = true;
        },
      )
      .finally(() => {
        this.writing = undefined;
        if (this.pending.length === 0) this.on.drained();
        if ((this.pending.length > 0 || this.readEnd) && !this.on.stopping()) {
          this.schedule(
            this.failing ? 1_000 : this.pending.length >= this.o.batchMessages ? 0 : this.o.batchMs,
          );
        }
      });
    return this.writing;
  }

  private schedule(ms: number): void {
    if (this.writing) return; // the write under way flushes again when it ends
    if (this.timer && ms > 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, ms);
  }
}
