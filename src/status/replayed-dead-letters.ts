import type { JetStreamManager } from "@nats-io/jetstream";
import { errorMessage, TopologyError } from "../common/errors.js";
import { ReplayHeader, ReplayState, replayedSubject } from "../topology/replay-markers.js";
import type { TopologyOptions } from "../topology/spec.js";

/** Dead letters whose replay finished (a `done` marker), read from the markers' subject. */
export interface ReplayedReading {
  /** Stream sequences of the dead letters replayed. */
  deadLetterSeqs: Set<number>;
  /** The stream's last sequence when read: the next read starts after it. */
  lastSeq: number;
}

/**
 * Reads the `done` replay markers stored at or after `fromSeq`, headers only, through an ordered
 * consumer (ephemeral, no acks). A marker is written after its dead letter, so starting at the
 * first sequence of a time window finds every replay of a dead letter stored in that window.
 */
export async function readReplayedDeadLetters(
  jsm: JetStreamManager,
  t: TopologyOptions,
  fromSeq = 1,
): Promise<ReplayedReading> {
  const subject = replayedSubject(t);
  const deadLetterSeqs = new Set<number>();
  try {
    const si = await jsm.streams.info(t.stream, { subjects_filter: subject });
    const lastSeq = si.state.last_seq;
    if ((si.state.subjects?.[subject] ?? 0) === 0 || lastSeq < fromSeq) return { deadLetterSeqs, lastSeq };
    const consumer = await jsm.jetstream().consumers.get(t.stream, {
      filter_subjects: subject,
      opt_start_seq: Math.max(1, fromSeq),
      headers_only: true,
    });
    try {
      // fetch() ends by itself when nothing more arrives, so deleted messages cannot hang the read.
      for (let done = false; !done; ) {
        const batch = await consumer.fetch({ max_messages: 1_000, expires: 2_000 });
        let got = 0;
        for await (const m of batch) {
          got++;
          const of = Number(m.headers?.get(ReplayHeader.Of));
          if (m.headers?.get(ReplayHeader.State) === ReplayState.Done && Number.isInteger(of)) {
            deadLetterSeqs.add(of);
          }
          if (m.info.pending === 0 || m.seq >= lastSeq) {
            done = true;
            break;
          }
        }
        if (got === 0) done = true;
      }
    } finally {
      await consumer.delete();
    }
    return { deadLetterSeqs, lastSeq };
  } catch (err) {
    throw new TopologyError(`cannot read the replay markers on ${subject}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

/**
 * The replayed dead letters, kept up to date by reading only the markers stored since the last
 * read: `status --watch` and the dashboard sample every few seconds.
 */
export class ReplayedDeadLetters {
  private readonly seqs = new Set<number>();
  private nextSeq = 1;

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly topology: TopologyOptions,
  ) {}

  /** How many dead letters have been replayed, counting each once however often it was. */
  async count(): Promise<number> {
    let r = await readReplayedDeadLetters(this.jsm, this.topology, this.nextSeq);
    if (r.lastSeq + 1 < this.nextSeq) {
      // The stream is shorter than when we last read: deleted and created again. Start over.
      this.seqs.clear();
      this.nextSeq = 1;
      r = await readReplayedDeadLetters(this.jsm, this.topology, 1);
    }
    for (const s of r.deadLetterSeqs) this.seqs.add(s);
    this.nextSeq = Math.max(this.nextSeq, r.lastSeq + 1);
    return this.seqs.size;
  }
}
