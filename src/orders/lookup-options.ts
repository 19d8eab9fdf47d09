import { withDefaults } from "../common/defaults.js";
import { checkTraceUrlTemplate } from "../common/trace-context.js";
import { DEFAULT_INDEX_SUBJECT } from "./index-protocol.js";

/** The client's own default reply-inbox prefix. */
const DEFAULT_INBOX_PREFIX = "_INBOX";

/** Options of the order indexer (the long-running host of the order index). */
export interface OrderIndexerOptions {
  /** Subject lookups are asked on. Default `orderflow.index.lookup`. */
  subject: string;
  /** Queue group of the lookup subscription: with several indexers one answers. Default `orderflow-indexer`. */
  queueGroup: string;
  /** Longest a lookup waits for the index to read up to the sequence the caller saw. Default 500 ms. */
  catchUpWaitMs: number;
  /**
   * Reply-inbox prefix of the connection (`--inbox-prefix`): the stream is delivered below it, where
   * a least-privilege user may subscribe. Default `_INBOX`.
   */
  inboxPrefix: string;
  /**
   * Directory of the index on disk (`--index-dir`, `ORDERFLOW_INDEX_DIR`): it survives restarts and
   * keeps the process's memory flat. `:memory:` keeps it in the heap instead (rebuilt at every start).
   * One process per directory. Default `.orderflow/index`.
   */
  indexDir: string;
  /** Most messages read before they are written to the index in one batch. Default 5,000. */
  batchMessages: number;
  /** Longest a message read waits to be written (and answerable). Default 20 ms. */
  batchMs: number;
  /**
   * Messages read and not yet written at which reading pauses (the reader is closed, and reopened
   * after them once they are written): LevelDB stalls writes while it compacts and an ordered push
   * consumer cannot be slowed, so without it a fast catch-up grows the heap until the process dies
   * (seen at 3M orders with a 64 MB heap). Default 100,000.
   */
  pauseAtPending: number;
}

export const DEFAULT_ORDER_INDEXER_OPTIONS: Readonly<OrderIndexerOptions> = Object.freeze({
  subject: DEFAULT_INDEX_SUBJECT,
  queueGroup: "orderflow-indexer",
  catchUpWaitMs: 500,
  inboxPrefix: DEFAULT_INBOX_PREFIX,
  indexDir: ".orderflow/index",
  batchMessages: 5_000,
  batchMs: 20,
  pauseAtPending: 100_000,
});

/** Options of one `orderflow order` lookup. */
export interface OrderLookupOptions {
  /** Subject of the order index. Default `orderflow.index.lookup`. */
  subject: string;
  /** How long to wait for the index to answer. Default 800 ms (it waits up to 500 ms to catch up). */
  indexTimeoutMs: number;
  /**
   * Without an index (or for what it has not read yet), read at most this many of the newest
   * messages; older ones are not searched. Default 50,000 messages (about half a second).
   */
  scanLast: number;
  /**
   * Reply-inbox prefix of the connection (`--inbox-prefix`): the index answers below it and a scan
   * is delivered below it, where a least-privilege user may subscribe. Default `_INBOX`.
   */
  inboxPrefix: string;
}

export const DEFAULT_ORDER_LOOKUP_OPTIONS: Readonly<OrderLookupOptions> = Object.freeze({
  subject: DEFAULT_INDEX_SUBJECT,
  indexTimeoutMs: 800,
  scanLast: 50_000,
  inboxPrefix: DEFAULT_INBOX_PREFIX,
});

/** How an order's timeline links the traces of its messages (`orderflow order`, the dashboard's lookup). */
export interface TraceLinkOptions {
  /**
   * The operator's tracing UI, a URL with `{traceId}` (and optionally `{spanId}`) where the ids go,
   * e.g. `http://localhost:16686/trace/{traceId}` (`--trace-url`, `ORDERFLOW_TRACE_URL`). Default
   * undefined: trace ids are shown without links.
   */
  traceUrl: string | undefined;
}

export const DEFAULT_TRACE_LINK_OPTIONS: Readonly<TraceLinkOptions> = Object.freeze({ traceUrl: undefined });

/** Merges defaults and checks the template (an http(s) URL with `{traceId}`). */
export function traceLinkOptions(overrides: Partial<TraceLinkOptions> = {}): TraceLinkOptions {
  const o = withDefaults(DEFAULT_TRACE_LINK_OPTIONS, overrides);
  if (o.traceUrl !== undefined) checkTraceUrlTemplate(o.traceUrl);
  return o;
}

function positive(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1)
    throw new RangeError(`${name} must be a positive whole number, got ${v}`);
}

/** A subject prefix to subscribe below: tokens without wildcards or whitespace. */
function inboxPrefixOk(prefix: string): void {
  if (!/^[^\s.*>]+(\.[^\s.*>]+)*$/.test(prefix)) {
    throw new RangeError(
      `inboxPrefix must be subject tokens without wildcards, got ${JSON.stringify(prefix)}`,
    );
  }
}

export function orderIndexerOptions(overrides: Partial<OrderIndexerOptions> = {}): OrderIndexerOptions {
  const o = withDefaults(DEFAULT_ORDER_INDEXER_OPTIONS, overrides);
  positive("catchUpWaitMs", o.catchUpWaitMs);
  positive("batchMessages", o.batchMessages);
  positive("batchMs", o.batchMs);
  positive("pauseAtPending", o.pauseAtPending);
  if (o.indexDir.trim() === "") throw new RangeError("indexDir must be a directory or :memory:");
  inboxPrefixOk(o.inboxPrefix);
  return o;
}

export function orderLookupOptions(overrides: Partial<OrderLookupOptions> = {}): OrderLookupOptions {
  const o = withDefaults(DEFAULT_ORDER_LOOKUP_OPTIONS, overrides);
  positive("indexTimeoutMs", o.indexTimeoutMs);
  if (!Number.isInteger(o.scanLast) || o.scanLast < 0) {
    throw new RangeError(`scanLast must be a whole number >= 0, got ${o.scanLast}`);
  }
  inboxPrefixOk(o.inboxPrefix);
  return o;
}
