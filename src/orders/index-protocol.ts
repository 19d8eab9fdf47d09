import { z } from "zod";

/**
 * The request/reply protocol of the order index (JSON over core NATS), shared by the indexer that
 * answers and `orderflow order` that asks. Versioned by its subject.
 */
export const DEFAULT_INDEX_SUBJECT = "orderflow.index.lookup";

export const IndexLookupRequest = z.object({
  orderNo: z.string().min(1),
  /**
   * The stream's last sequence when the caller asked: the indexer waits (briefly) until it has read
   * that far, so the answer covers everything stored before the question.
   */
  through: z.number().int().nonnegative(),
});
export type IndexLookupRequest = z.infer<typeof IndexLookupRequest>;

export const IndexLookupReply = z.union([
  z.object({
    orderNo: z.string(),
    /** Stream sequences of the order's messages, ascending. */
    seqs: z.array(z.number().int().positive()),
    /** The stage of each of `seqs` (absent from indexers before it was added). */
    stages: z.array(z.string()).optional(),
    /**
     * The pipeline steps the index records, intake first (besides `failed`); absent from indexers
     * before pipelines were declared, which recorded the seed's.
     */
    steps: z.array(z.string()).optional(),
    /** The index has read every message up to here. */
    indexedThrough: z.number().int().nonnegative(),
    /** Orders the index holds, for the operator's idea of its size. */
    orders: z.number().int().nonnegative(),
  }),
  z.object({ error: z.string() }),
]);
export type IndexLookupReply = z.infer<typeof IndexLookupReply>;

/**
 * Whether the index may answer a lookup that asks for its answer on `reply`. The asker names the
 * reply subject and the answer goes out with the indexer's permissions: answered on
 * `$JS.API.STREAM.PURGE.ORDERS`, an admin-run indexer would purge the stream for anyone allowed to
 * ask (checked on 2.9.10). Only reply inboxes qualify: a first token `_INBOX` or `_INBOX_<name>`.
 */
export function isInboxReply(reply: string): boolean {
  return /^_INBOX(_[A-Za-z0-9_-]+)?\.[^\s*>]+$/.test(reply);
}
