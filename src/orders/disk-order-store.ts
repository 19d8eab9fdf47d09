import { mkdir } from "node:fs/promises";
import { resolve } from "node:path";
import { ClassicLevel } from "classic-level";
import { errorMessage, IndexStoreError } from "../common/errors.js";
import { SEED_STEPS } from "../stages/order-key.js";
import {
  type IndexCheckpoint,
  type IndexEntry,
  type IndexedMessage,
  indexSteps,
  type OrderStore,
  type OrderStoreCounts,
} from "./order-store.js";

/** Byte that ends an order key inside a record key: order numbers hold no control characters. */
const SEPARATOR = 0x00;
/** Meta records start with 0xff, a byte UTF-8 never contains, so they sort after every order. */
const CHECKPOINT_KEY = Buffer.from([0xff, ...Buffer.from("checkpoint")]);

interface StoredCheckpoint extends IndexCheckpoint, OrderStoreCounts {}

/** `<order key> 0x00 <seq, 8 bytes big-endian>`: one order's records are adjacent and in sequence order. */
function recordKey(key: string, seq: number): Buffer {
  const n = Buffer.byteLength(key, "utf8");
  const out = Buffer.allocUnsafe(n + 9);
  out.write(key, 0, "utf8");
  out[n] = SEPARATOR;
  // Two 32-bit halves: sequences stay below 2^53, and no BigInt is made per record.
  out.writeUInt32BE(Math.floor(seq / 2 ** 32), n + 1);
  out.writeUInt32BE(seq >>> 0, n + 5);
  return out;
}

function seqOf(k: Buffer): number {
  return k.readUInt32BE(k.length - 8) * 2 ** 32 + k.readUInt32BE(k.length - 4);
}

/** The most steps a record's one-byte code can tell apart. */
const MAX_CODES = 256;

/**
 * The order index on disk, in LevelDB (classic-level): one record per message, written in batches
 * together with the checkpoint, so a restart (kill -9 included) resumes from the last batch instead
 * of re-reading the stream, and the process's memory does not grow with the stream (LevelDB keeps
 * its own bounded caches). One process per directory: LevelDB locks it.
 *
 * A record's value is its step as one byte, an index into the step table (indexSteps: the
 * pipeline's steps, then `failed`). The table is kept in the checkpoint, so an index opened with
 * another pipeline is noticed (open() returns the table it was written with) and rebuilt, not
 * misread; an index from before the table was kept has none and was written with the seed's.
 */
export class DiskOrderStore implements OrderStore {
  readonly description: string;
  private readonly db: ClassicLevel<Buffer, Buffer>;
  private stored: StoredCheckpoint = { streamCreated: "", through: 0, orders: 0, messages: 0 };
  /** Step codes, in order; one shared value buffer per step. */
  private readonly table: readonly string[];
  private readonly steps: readonly string[];
  private readonly values: ReadonlyMap<string, Buffer>;

  /** `steps`: the pipeline's (stepsOf), the seed's when left out. */
  constructor(dir: string, steps: readonly string[] = SEED_STEPS) {
    this.steps = [...steps];
    this.table = indexSteps(steps);
    if (this.table.length > MAX_CODES) {
      throw new RangeError(`the order index keeps at most ${MAX_CODES - 1} steps, got ${steps.length}`);
    }
    this.values = new Map(this.table.map((s, i) => [s, Buffer.from([i])]));
    this.description = resolve(dir);
    this.db = new ClassicLevel<Buffer, Buffer>(this.description, {
      keyEncoding: "buffer",
      valueEncoding: "buffer",
    });
  }

  async open(): Promise<IndexCheckpoint | undefined> {
    try {
      await mkdir(this.description, { recursive: true });
      await this.db.open();
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      if (cause?.code === "LEVEL_LOCKED") {
        throw new IndexStoreError(this.description, "another orderflow process is using it", {
          hint: "give each indexer (each host) its own --index-dir (ORDERFLOW_INDEX_DIR)",
          cause: err,
        });
      }
      throw new IndexStoreError(this.description, errorMessage(cause ?? err), {
        hint: "check the directory's permissions, or point --index-dir elsewhere (its content is rebuilt from the stream)",
        cause: err,
      });
    }
    const raw = await this.db.get(CHECKPOINT_KEY);
    if (raw === undefined) return undefined;
    this.stored = JSON.parse(raw.toString("utf8")) as StoredCheckpoint;
    const { streamCreated, through, steps } = this.stored;
    return steps === undefined ? { streamCreated, through } : { streamCreated, through, steps };
  }

  async write(entries: readonly IndexEntry[], checkpoint: IndexCheckpoint): Promise<void> {
    const batch = this.db.batch();
    const intake = this.table[0];
    let received = 0;
    for (const e of entries) {
      const value = this.values.get(e.stage);
      if (value === undefined) continue;
      batch.put(recordKey(e.key, e.seq), value);
      if (e.stage === intake) received++;
    }
    const next: StoredCheckpoint = {
      ...checkpoint,
      steps: this.steps,
      orders: this.stored.orders + received,
      messages: this.stored.messages + entries.length,
    };
    batch.put(CHECKPOINT_KEY, Buffer.from(JSON.stringify(next)));
    await batch.write();
    this.stored = next;
  }

  async lookup(key: string): Promise<IndexedMessage[]> {
    const prefix = Buffer.from(key, "utf8");
    const gte = Buffer.concat([prefix, Buffer.from([SEPARATOR])]);
    const lt = Buffer.concat([prefix, Buffer.from([SEPARATOR + 1])]);
    const out: IndexedMessage[] = [];
    for await (const [k, v] of this.db.iterator({ gte, lt })) {
      out.push({
        seq: seqOf(k),
        stage: this.table[v[0] ?? 0] ?? (this.table[0] as string),
      });
    }
    return out;
  }

  counts(): OrderStoreCounts {
    return { orders: this.stored.orders, messages: this.stored.messages };
  }

  async clear(): Promise<void> {
    await this.db.clear();
    this.stored = { streamCreated: "", through: 0, orders: 0, messages: 0 };
  }

  async close(): Promise<void> {
    if (this.db.status === "open") await this.db.close();
  }
}
