import type { Stage } from "../topology/spec.js";

/** One message of an order, as the index keeps it. */
export interface IndexedMessage {
  seq: number;
  stage: Stage;
}

/** One message to record: it belongs to order `key` and sits at `seq` on `stage`. */
export interface IndexEntry {
  key: string;
  stage: Stage;
  seq: number;
}

/** Where an index left off: the stream it read (by creation time) and how far. */
export interface IndexCheckpoint {
  /** The stream's `created`; another value means the stream was deleted and made anew. */
  streamCreated: string;
  /** Every message up to this stream sequence is recorded. */
  through: number;
}

export interface OrderStoreCounts {
  /** Orders known (distinct orders in memory; orders with a received message on disk). */
  orders: number;
  messages: number;
}

/**
 * Where the order index keeps order number → messages. The indexer reads the stream and writes
 * here in batches, each with its checkpoint, so a lasting store resumes where it stopped.
 */
export interface OrderStore {
  /** "memory", or the directory of a store on disk, for log lines. */
  readonly description: string;
  /** Opens the store; the checkpoint it holds, or undefined when it holds nothing lasting. */
  open(): Promise<IndexCheckpoint | undefined>;
  /** Records `entries` and moves the checkpoint, atomically. */
  write(entries: readonly IndexEntry[], checkpoint: IndexCheckpoint): Promise<void>;
  /** The order's messages, ascending by sequence; empty when unknown. */
  lookup(key: string): Promise<IndexedMessage[]>;
  counts(): OrderStoreCounts;
  /** Forgets everything (the stream was recreated). */
  clear(): Promise<void>;
  close(): Promise<void>;
}

/** `--index-dir` value that keeps the index in the process's memory (rebuilt at every start). */
export const MEMORY_INDEX = ":memory:";
