import { Stage } from "../topology/spec.js";

/** One message of an order, as the index keeps it. */
export interface IndexedMessage {
  seq: number;
  /** Its step (`received`, …, `failed`): one of the store's {@link indexSteps}. */
  stage: string;
}

/** One message to record: it belongs to order `key` and sits at `seq` on `stage`. */
export interface IndexEntry {
  key: string;
  stage: string;
  seq: number;
}

/**
 * What an index records, in code order: the pipeline's steps (stepsOf: intake first), then
 * `failed`. A record keeps its step as an index into this table, so an index read with another
 * table is misread; for the seed it is received, processed, completed, failed, the codes of every
 * index written before pipelines were declared.
 */
export function indexSteps(steps: readonly string[]): string[] {
  return [...steps, Stage.Failed];
}

/** Where an index left off: the stream it read (by creation time) and how far. */
export interface IndexCheckpoint {
  /** The stream's `created`; another value means the stream was deleted and made anew. */
  streamCreated: string;
  /** Every message up to this stream sequence is recorded. */
  through: number;
  /**
   * The pipeline steps its records were written with (their codes are {@link indexSteps} of
   * them); undefined in an index written before they were kept, which was the seed's.
   */
  steps?: readonly string[];
}

export interface OrderStoreCounts {
  /** Orders known (distinct orders in memory; orders with an intake message on disk). */
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
  /**
   * Opens the store; the checkpoint it holds, or undefined when it holds nothing lasting. A
   * checkpoint whose `steps` differ from the store's table is the caller's to clear.
   */
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
