import { type JsMsg, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { DeadLetterHeader } from "../stages/dead-letter.js";
import { headersRecord } from "../stages/dead-letter-info.js";
import { ReplayHeader, ReplayState, replayedSubject } from "../topology/replay-markers.js";
import { Stage, subjectOf, type TopologyOptions } from "../topology/spec.js";

export {
  REPLAYED_STAGE,
  ReplayHeader,
  ReplayState,
  replayedSubject,
} from "../topology/replay-markers.js";

export function replayMsgId(deadLetterSeq: number, round: number, what: ReplayState | "input"): string {
  return `replay:${deadLetterSeq}${round > 1 ? `:r${round}` : ""}${what === ReplayState.Intent ? "" : `:${what}`}`;
}

/** A message as read back from the stream. */
export interface StoredEntry {
  seq: number;
  subject: string;
  time: Date;
  data: Uint8Array;
  headers: Record<string, string>;
}

/**
 * Every message from `fromSeq` up to the stream's last sequence now, optionally of one subject, in
 * order, through an ordered consumer (ephemeral, no acks, gone when done).
 */
export async function readStream(
  nc: NatsConnection,
  stream: string,
  { subject, fromSeq = 1 }: { subject?: string; fromSeq?: number } = {},
): Promise<StoredEntry[]> {
  const jsm = await jetstreamManager(nc);
  const si = await jsm.streams.info(stream, subject ? { subjects_filter: subject } : undefined);
  const expected = subject ? (si.state.subjects?.[subject] ?? 0) : si.state.messages;
  if (expected === 0 || si.state.last_seq < fromSeq) return [];
  const consumer = await jetstream(nc).consumers.get(stream, {
    ...(subject ? { filter_subjects: subject } : {}),
    opt_start_seq: Math.max(1, fromSeq),
  });
  const out: StoredEntry[] = [];
  const until = si.state.last_seq;
  const take = (m: JsMsg) =>
    out.push({
      seq: m.seq,
      subject: m.subject,
      time: m.time,
      data: m.data,
      headers: headersRecord(m.headers),
    });
  // fetch() ends by itself when nothing more arrives (expires), so deleted messages cannot hang us.
  while (true) {
    const batch = await consumer.fetch({ max_messages: 1_000, expires: 2_000 });
    let got = 0;
    let last = 0;
    let pending = 1;
    for await (const m of batch) {
      got++;
      last = m.seq;
      pending = m.info.pending;
      if (m.seq <= until) take(m);
      // Leaving the loop ends the fetch at once, rather than when it expires.
      if (pending === 0 || m.seq >= until) break;
    }
    if (got === 0 || last >= until || pending === 0) break;
  }
  await consumer.delete();
  return out;
}

/** One dead letter with what the markers say about its replay. */
export interface DeadLetter {
  seq: number;
  time: string;
  stage: string;
  reason: string;
  error: string;
  orderNo: string | undefined;
  deliveries: number | undefined;
  sourceSeq: number | undefined;
  sourceSubject: string | undefined;
  headers: Record<string, string>;
  payload: string;
  data: Uint8Array;
  /** Replays done (a `done` marker each). */
  replays: number;
  /** A replay whose intent is recorded and whose `done` is not: killed mid-way. */
  unfinished: { round: number; markerSeq: number } | undefined;
}

const decoder = new TextDecoder();

/** Dead letters and their replay state, oldest first. */
export async function readDeadLetters(nc: NatsConnection, t: TopologyOptions): Promise<DeadLetter[]> {
  const [failed, markers] = await Promise.all([
    readStream(nc, t.stream, { subject: subjectOf(t, Stage.Failed) }),
    readStream(nc, t.stream, { subject: replayedSubject(t) }),
  ]);
  const intents = new Map<number, Map<number, number>>();
  const done = new Map<number, Set<number>>();
  for (const m of markers) {
    const of = Number(m.headers[ReplayHeader.Of]);
    const round = Number(m.headers[ReplayHeader.Round] ?? "1");
    if (!Number.isInteger(of)) continue;
    if (m.headers[ReplayHeader.State] === ReplayState.Done) {
      done.set(of, (done.get(of) ?? new Set()).add(round));
    } else {
      intents.set(of, (intents.get(of) ?? new Map()).set(round, m.seq));
    }
  }
  return failed.map((m) => {
    const h = m.headers;
    const num = (k: string) =>
      h[k] !== undefined && Number.isFinite(Number(h[k])) ? Number(h[k]) : undefined;
    const doneRounds = done.get(m.seq) ?? new Set<number>();
    const open = [...(intents.get(m.seq) ?? new Map<number, number>())].find(
      ([round]) => !doneRounds.has(round),
    );
    return {
      seq: m.seq,
      time: m.time.toISOString(),
      stage: h[DeadLetterHeader.Stage] ?? "unknown",
      reason: h[DeadLetterHeader.Reason] ?? "no reason recorded",
      error: h[DeadLetterHeader.Error] ?? "",
      orderNo: h[DeadLetterHeader.OrderNo],
      deliveries: num(DeadLetterHeader.Deliveries),
      sourceSeq: num(DeadLetterHeader.SourceSeq),
      sourceSubject: h[DeadLetterHeader.SourceSubject],
      headers: h,
      payload: decoder.decode(m.data),
      data: m.data,
      replays: doneRounds.size,
      unfinished: open ? { round: open[0], markerSeq: open[1] } : undefined,
    };
  });
}

/** What `list` and the dashboard filter on. */
export interface DeadLetterFilter {
  stage?: string;
  reason?: string;
  orderNo?: string;
  /** Stored at or after, ms since the epoch. */
  sinceMs?: number;
}

export function matches(d: DeadLetter, f: DeadLetterFilter): boolean {
  return (
    (f.stage === undefined || d.stage === f.stage) &&
    (f.reason === undefined || d.reason === f.reason) &&
    (f.orderNo === undefined || d.orderNo === f.orderNo) &&
    (f.sinceMs === undefined || Date.parse(d.time) >= f.sinceMs)
  );
}
