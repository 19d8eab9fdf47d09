import { jetstream } from "@nats-io/jetstream";
import { type NatsConnection, headers as natsHeaders } from "@nats-io/nats-core";
import { errorMessage, PublishError, UsageError } from "../common/errors.js";
import { publishStored } from "../common/jetstream-publish.js";
import type { Tracing } from "../common/tracing.js";
import { DeadLetterHeader } from "../stages/dead-letter.js";
import type { TopologyOptions } from "../topology/spec.js";
import {
  type DeadLetter,
  type DeadLetterFilter,
  matches,
  ReplayHeader,
  ReplayState,
  readDeadLetters,
  readStream,
  replayedSubject,
  replayMsgId,
} from "./dead-letters.js";
import type { StreamAccess } from "./read-to-end.js";

export const SkipReason = {
  AlreadyReplayed: "already replayed",
  NoSource: "no source subject recorded",
  NotFound: "no such dead letter",
} as const;
export type SkipReason = (typeof SkipReason)[keyof typeof SkipReason];

export interface ReplayOutcome {
  seq: number;
  /** replayed: republished now; resumed: a killed replay found republished, only its record finished. */
  result: "replayed" | "resumed" | "would-replay" | "skipped";
  reason?: SkipReason;
  subject?: string;
}

export interface ReplaySummary {
  replayed: number;
  resumed: number;
  alreadyReplayed: number;
  skipped: number;
  dryRun: boolean;
  outcomes: ReplayOutcome[];
}

/** How to replay; the stream is read below the connection's inbox prefix. */
export interface ReplayOptions extends StreamAccess {
  /** Replay again what was replayed before. Default false. */
  force?: boolean;
  /** Say what would happen, publish nothing. Default false. */
  dryRun?: boolean;
  /** Called after each dead letter (progress bars). */
  onProgress?: (done: number, total: number) => void;
  /**
   * When on, each replayed input starts a new trace whose `send` span links to the dead letter's
   * (the context in its headers). Default: none.
   */
  tracing?: Tracing;
}

/**
 * Replays dead letters at most once each, surviving a kill at any point:
 *
 *   1. intent marker on `<prefix>.replayed` (msg id `replay:<seq>`), PubAck awaited;
 *   2. the original input to its source subject, header Orderflow-Replay-Of, PubAck awaited;
 *   3. done marker (`replay:<seq>:done`).
 *
 * A dead letter with a done marker is skipped. One with an intent and no done was killed between 1
 * and 3: the stream after its intent is searched for the republished input; found, only the done
 * marker is written; not found, the input is republished. docs/reliability.md walks the windows.
 */
export async function replayDeadLetters(
  nc: NatsConnection,
  t: TopologyOptions,
  selected: readonly DeadLetter[],
  o: ReplayOptions,
): Promise<ReplaySummary> {
  const js = jetstream(nc);
  const summary: ReplaySummary = {
    replayed: 0,
    resumed: 0,
    alreadyReplayed: 0,
    skipped: 0,
    dryRun: Boolean(o.dryRun),
    outcomes: [],
  };
  // Inputs republished by killed replays, found once for all of them.
  const unfinished = selected.filter((d) => d.unfinished);
  const republished = new Set<string>();
  if (unfinished.length > 0 && !o.dryRun) {
    const from = Math.min(...unfinished.map((d) => d.unfinished?.markerSeq ?? 0));
    for (const m of await readStream(nc, t.stream, { inboxPrefix: o.inboxPrefix, fromSeq: from })) {
      const of = m.headers[ReplayHeader.Of];
      if (of !== undefined && m.subject !== replayedSubject(t)) {
        republished.add(`${of}:${m.headers[ReplayHeader.Round] ?? "1"}`);
      }
    }
  }
  const publish = async (
    subject: string,
    data: Uint8Array,
    h: ReturnType<typeof natsHeaders>,
    id: string,
  ) => {
    try {
      await publishStored(js, subject, data, { headers: h, msgID: id });
    } catch (err) {
      throw new PublishError(subject, errorMessage(err), { cause: err });
    }
  };
  const marker = (d: DeadLetter, round: number, state: ReplayState) => {
    const h = natsHeaders();
    h.set(ReplayHeader.Of, String(d.seq));
    h.set(ReplayHeader.State, state);
    h.set(ReplayHeader.Round, String(round));
    if (d.orderNo) h.set(DeadLetterHeader.OrderNo, d.orderNo);
    if (d.sourceSubject) h.set(DeadLetterHeader.SourceSubject, d.sourceSubject);
    return publish(replayedSubject(t), new Uint8Array(), h, replayMsgId(d.seq, round, state));
  };

  let i = 0;
  for (const d of selected) {
    const record = (r: ReplayOutcome) => {
      summary.outcomes.push(r);
      o.onProgress?.(++i, selected.length);
    };
    if (!d.sourceSubject) {
      summary.skipped++;
      record({ seq: d.seq, result: "skipped", reason: SkipReason.NoSource });
      continue;
    }
    if (d.replays > 0 && !o.force && !d.unfinished) {
      summary.alreadyReplayed++;
      record({ seq: d.seq, result: "skipped", reason: SkipReason.AlreadyReplayed });
      continue;
    }
    const round = d.unfinished?.round ?? d.replays + 1;
    if (o.dryRun) {
      summary.replayed++;
      record({ seq: d.seq, result: "would-replay", subject: d.sourceSubject });
      continue;
    }
    if (d.unfinished && republished.has(`${d.seq}:${round}`)) {
      await marker(d, round, ReplayState.Done);
      summary.resumed++;
      record({ seq: d.seq, result: "resumed", subject: d.sourceSubject });
      continue;
    }
    if (!d.unfinished) await marker(d, round, ReplayState.Intent);
    const h = natsHeaders();
    h.set(ReplayHeader.Of, String(d.seq));
    h.set(ReplayHeader.Round, String(round));
    const inputId = replayMsgId(d.seq, round, "input");
    const span = o.tracing?.send(h, {
      subject: d.sourceSubject,
      stream: t.stream,
      msgId: inputId,
      orderNo: d.orderNo,
      linkTo: d.headers,
    });
    try {
      await publish(d.sourceSubject, d.data, h, inputId);
    } catch (err) {
      span?.end(err);
      throw err;
    }
    span?.end();
    await marker(d, round, ReplayState.Done);
    summary.replayed++;
    record({ seq: d.seq, result: "replayed", subject: d.sourceSubject });
  }
  return summary;
}

export function summaryLine(s: ReplaySummary): string {
  const verb = s.dryRun ? "would replay" : "replayed";
  const resumed = s.resumed > 0 ? ` (+${s.resumed} finished from an interrupted run)` : "";
  return `${verb} ${s.replayed}${resumed}, already replayed ${s.alreadyReplayed}, skipped ${s.skipped}`;
}

/** Which dead letters to replay: sequences, a filter, or all (a filter narrows sequences too). */
export interface ReplaySelection {
  seqs?: readonly number[];
  filter?: DeadLetterFilter;
  all?: boolean;
}

/**
 * Reads the dead letters, picks the selection and replays it: the one path of `orderflow
 * dead-letters replay` and the dashboard's replay buttons. Sequences that are no dead letter are
 * counted as skipped, never dropped silently.
 */
export async function replaySelection(
  nc: NatsConnection,
  t: TopologyOptions,
  sel: ReplaySelection,
  o: ReplayOptions & { onSelected?: (count: number) => void },
): Promise<ReplaySummary> {
  const seqs = sel.seqs ?? [];
  const filter = sel.filter ?? {};
  const filtered = Object.values(filter).some((v) => v !== undefined && v !== "");
  if (seqs.length === 0 && !sel.all && !filtered) {
    throw new UsageError("say which dead letters to replay", {
      hint: "give sequences, --reason, --stage, --order, --since or --all",
    });
  }
  const all = await readDeadLetters(nc, t, o);
  const bySeq = new Map(all.map((d) => [d.seq, d]));
  const missing = seqs.filter((n) => !bySeq.has(n));
  const chosen = (seqs.length > 0 ? seqs.flatMap((n) => bySeq.get(n) ?? []) : all).filter((d) =>
    matches(d, filter),
  );
  o.onSelected?.(chosen.length);
  const summary = await replayDeadLetters(nc, t, chosen, o);
  for (const n of missing) {
    summary.skipped++;
    summary.outcomes.push({ seq: n, result: "skipped", reason: SkipReason.NotFound });
  }
  return summary;
}
