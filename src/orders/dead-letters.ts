import type { JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { headersRecord } from "../stages/dead-letter-info.js";
import { ReplayHeader, ReplayState, replayedSubject } from "../topology/replay-markers.js";
import { Stage, stepsOf, subjectOf, type TopologyOptions } from "../topology/spec.js";
import { type DeadLetterRow, deadLetterFacts, deadLetterRow } from "./dead-letter-row.js";
import { readToEnd, type StreamAccess } from "./read-to-end.js";

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

/** Every message from `fromSeq` up to the stream's last sequence now, optionally of one subject, in order. */
export async function readStream(
  nc: NatsConnection,
  stream: string,
  o: StreamAccess & { subject?: string; fromSeq?: number },
): Promise<StoredEntry[]> {
  const out: StoredEntry[] = [];
  await readToEnd(nc, stream, o, (m) =>
    out.push({
      seq: m.seq,
      subject: m.subject,
      time: m.time,
      data: m.data,
      headers: headersRecord(m.headers),
    }),
  );
  return out;
}

/** One dead letter with every header, its bytes and what the markers say about its replay. */
export interface DeadLetter extends DeadLetterRow {
  headers: Record<string, string>;
  data: Uint8Array;
  /** Replays done (a `done` marker each). */
  replays: number;
  /** A replay whose intent is recorded and whose `done` is not: killed mid-way. */
  unfinished: { round: number; markerSeq: number } | undefined;
}

/** What the replay markers say: per dead letter, the rounds done and the rounds begun (marker seq). */
interface ReplayMarks {
  done: Map<number, Set<number>>;
  intents: Map<number, Map<number, number>>;
}

function replayMark(marks: ReplayMarks, m: JsMsg): void {
  const ofText = m.headers?.get(ReplayHeader.Of) ?? "";
  const of = ofText === "" ? Number.NaN : Number(ofText);
  const round = Number(m.headers?.get(ReplayHeader.Round) || "1");
  if (!Number.isInteger(of)) return;
  if (m.headers?.get(ReplayHeader.State) === ReplayState.Done) {
    marks.done.set(of, (marks.done.get(of) ?? new Set()).add(round));
  } else {
    marks.intents.set(of, (marks.intents.get(of) ?? new Map()).set(round, m.seq));
  }
}

/** Dead letters and their replay state, oldest first. */
export async function readDeadLetters(
  nc: NatsConnection,
  t: TopologyOptions,
  access: StreamAccess,
): Promise<DeadLetter[]> {
  const failed: Array<Omit<DeadLetter, "replays" | "unfinished">> = [];
  const marks: ReplayMarks = { done: new Map(), intents: new Map() };
  const steps = stepsOf(t);
  await Promise.all([
    readToEnd(nc, t.stream, { ...access, subject: subjectOf(t, Stage.Failed) }, (m) =>
      failed.push({
        ...deadLetterRow(deadLetterFacts(m, steps)),
        headers: headersRecord(m.headers),
        data: m.data,
      }),
    ),
    readToEnd(nc, t.stream, { ...access, subject: replayedSubject(t) }, (m) => replayMark(marks, m)),
  ]);
  return failed.map((d) => {
    const doneRounds = marks.done.get(d.seq) ?? new Set<number>();
    const open = [...(marks.intents.get(d.seq) ?? new Map<number, number>())].find(
      ([round]) => !doneRounds.has(round),
    );
    return {
      ...d,
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
