import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { errorMessage } from "../common/errors.js";
import { formatNumber } from "../common/format.js";
import { type Logger, silentLogger } from "../common/logger.js";
import { NatsFailure, natsFailure } from "../common/nats-errors.js";
import { OTHER_STAGE, orderKeyOf, stageOfSubject } from "../stages/order-key.js";
import { streamInfo } from "../topology/read.js";
import { Stage, stepsOf, type TopologyOptions } from "../topology/spec.js";
import { IndexLookupReply, isInboxReply } from "./index-protocol.js";
import { type OrderLookupOptions, orderLookupOptions } from "./lookup-options.js";
import { readToEnd } from "./read-to-end.js";
import { mergeEntries, type TimelineEntry, timelineEntry } from "./timeline.js";

/** What a lookup searched, so the answer can say how sure it is. */
export interface LookupCoverage {
  stream: string;
  firstSeq: number;
  lastSeq: number;
  /** The index answered and had read up to this sequence. */
  index?: { indexedThrough: number; orders: number };
  /** Why the index did not answer. */
  indexProblem?: string;
  /** The range read by scanning (what the index had not read, capped at scanLast messages). */
  scanned?: { from: number; to: number; messages: number };
  /** True when every message of the stream was covered by the index or the scan. */
  complete: boolean;
}

export interface OrderLookup {
  orderNo: string;
  entries: TimelineEntry[];
  /** The pipeline's steps, intake first (stepsOf): what the order's state is told by; the seed's when absent. */
  steps?: readonly string[];
  coverage: LookupCoverage;
  /** One line for the operator when the answer may be incomplete. */
  notice?: string;
}

/** Asks the order index for an order's messages; a problem line instead when it cannot answer. */
export async function askIndex(
  nc: NatsConnection,
  o: OrderLookupOptions,
  orderNo: string,
  through: number,
): Promise<{ reply?: Extract<IndexLookupReply, { seqs: number[] }>; problem?: string }> {
  if (!isInboxReply(`${o.inboxPrefix}.reply`)) {
    return {
      problem: `the order index answers only inboxes below _INBOX or _INBOX_<name>, not ${o.inboxPrefix}`,
    };
  }
  try {
    const msg = await nc.request(o.subject, JSON.stringify({ orderNo, through }), {
      timeout: o.indexTimeoutMs,
    });
    const reply = IndexLookupReply.parse(msg.json());
    if ("error" in reply) return { problem: `the order index refused the lookup: ${reply.error}` };
    return { reply };
  } catch (err) {
    const kind = natsFailure(err);
    if (kind === NatsFailure.NoResponders) {
      return { problem: "no order index is running (start one with `orderflow indexer`)" };
    }
    if (kind === NatsFailure.Timeout) {
      return { problem: `the order index did not answer within ${o.indexTimeoutMs} ms` };
    }
    return { problem: `the order index could not be asked: ${errorMessage(err)}` };
  }
}

/**
 * The timeline of one order: asks the order index for its sequences and fetches those messages;
 * what the index has not read (all of the stream when no index runs) is scanned, newest
 * `scanLast` messages at most.
 */
export async function lookupOrder(
  nc: NatsConnection,
  t: TopologyOptions,
  orderNo: string,
  opts: Partial<OrderLookupOptions> = {},
  { signal, logger = silentLogger }: { signal?: AbortSignal; logger?: Logger } = {},
): Promise<OrderLookup> {
  const o = orderLookupOptions(opts);
  const steps = stepsOf(t);
  const jsm = await jetstreamManager(nc);
  const si = await streamInfo(jsm, t);
  const { first_seq: firstSeq, last_seq: lastSeq } = si.state;
  const coverage: LookupCoverage = { stream: t.stream, firstSeq, lastSeq, complete: false };

  const { reply, problem } = si.state.messages > 0 ? await askIndex(nc, o, orderNo, lastSeq) : {};
  if (problem) coverage.indexProblem = problem;
  let fromIndex: TimelineEntry[] = [];
  let coveredThrough = Math.max(0, firstSeq - 1);
  if (reply) {
    coverage.index = { indexedThrough: reply.indexedThrough, orders: reply.orders };
    coveredThrough = Math.max(coveredThrough, reply.indexedThrough);
    const stored = await Promise.all(reply.seqs.map((seq) => jsm.streams.getMessage(t.stream, { seq })));
    for (const m of stored) {
      // A message the limits removed is null; a recreated stream can reuse a sequence for
      // another order: keep only what is still this order's.
      if (!m) continue;
      const stage = stageOfSubject(m.subject, t.subjectPrefix, steps);
      const headers = stage === Stage.Failed ? m.header : undefined;
      if (orderKeyOf(stage, m.data, headers, steps) === orderNo) {
        fromIndex.push(timelineEntry(m, m.header, stage));
      }
    }
    fromIndex = mergeEntries(fromIndex);
  }

  const fromScan: TimelineEntry[] = [];
  const scanFrom = Math.max(coveredThrough + 1, lastSeq - o.scanLast + 1, firstSeq);
  if (scanFrom <= lastSeq && si.state.messages > 0 && o.scanLast > 0) {
    const messages = await readToEnd(
      nc,
      t.stream,
      { fromSeq: scanFrom, toSeq: lastSeq, inboxPrefix: o.inboxPrefix, signal, logger },
      (m) => {
        const stage = stageOfSubject(m.subject, t.subjectPrefix, steps);
        if (stage === OTHER_STAGE) return;
        const headers = stage === Stage.Failed ? m.headers : undefined;
        if (orderKeyOf(stage, m.data, headers, steps) === orderNo) {
          fromScan.push(timelineEntry(m, m.headers, stage));
        }
      },
    );
    coverage.scanned = { from: scanFrom, to: lastSeq, messages };
  }
  coverage.complete = si.state.messages === 0 || scanFrom <= coveredThrough + 1 || coveredThrough >= lastSeq;
  if (signal?.aborted) coverage.complete = false;
  const lookup: OrderLookup = { orderNo, entries: mergeEntries(fromIndex, fromScan), steps, coverage };
  if (!coverage.complete) lookup.notice = incompleteNotice(coverage, coveredThrough, scanFrom);
  return lookup;
}

function incompleteNotice(c: LookupCoverage, coveredThrough: number, scanFrom: number): string {
  const n = formatNumber;
  const why = c.index
    ? `the order index had read up to seq ${n(c.index.indexedThrough)}`
    : (c.indexProblem ?? "no order index answered");
  const searched = c.scanned
    ? `scanned only seq ${n(c.scanned.from)}..${n(c.scanned.to)}`
    : "scanned nothing";
  const gapFrom = Math.max(coveredThrough + 1, c.firstSeq);
  return `answer may be incomplete: ${why}; ${searched}, so seq ${n(gapFrom)}..${n(scanFrom - 1)} were not searched`;
}
