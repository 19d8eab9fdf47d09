import type { JetStreamManager, MsgRequest } from "@nats-io/jetstream";
import { errorMessage, TopologyError } from "../common/errors.js";
import { ReplayHeader, ReplayState, replayedSubject } from "../topology/replay-markers.js";
import { Stage, subjectOf, type TopologyOptions } from "../topology/spec.js";

/** Dead letters whose replay finished (a `done` marker), read from the markers' subject. */
export interface ReplayedReading {
  /** Stream sequences of the dead letters replayed. */
  deadLetterSeqs: Set<number>;
  /** The stream's last sequence when read: the next read starts after it. */
  lastSeq: number;
}

/**
 * The first message on `subject` at or after `seq`. STREAM.MSG.GET has taken `next_by_subj` since
 * 2.9 (checked on 2.9.10 and 2.15.1); nats.js types it for direct get only.
 */
function nextBySubject(subject: string, seq: number): MsgRequest {
  return { next_by_subj: subject, seq } as unknown as MsgRequest;
}

/**
 * Reads the `done` replay markers stored at or after `fromSeq`, one stored-message request each
 * (`$JS.API.STREAM.MSG.GET`, which the read-only monitor user may send, unlike a pull consumer's
 * MSG.NEXT). Markers are few (two per replayed dead letter) and each is read once by a caller that
 * keeps its place. A marker is written after its dead letter, so starting at the first sequence of
 * a time window finds every replay of a dead letter stored in that window.
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
    for (let seq = Math.max(1, fromSeq); seq <= lastSeq; ) {
      const m = await jsm.streams.getMessage(t.stream, nextBySubject(subject, seq));
      if (!m || m.seq > lastSeq) break;
      const of = Number(m.header.get(ReplayHeader.Of));
      if (m.header.get(ReplayHeader.State) === ReplayState.Done && Number.isInteger(of))
        deadLetterSeqs.add(of);
      seq = m.seq + 1;
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

  /**
   * How many of the dead letters still stored have been replayed, each once however often it was.
   * A replayed dead letter since removed (the subject purged, the stream's age or count limit) no
   * longer counts, so it cannot hide a new one.
   */
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
    if (this.seqs.size === 0) return 0;
    // Dead letters leave oldest first (purge, max_age, max_msgs): those below the first one still
    // stored are gone.
    const first = await this.jsm.streams.getMessage(
      this.topology.stream,
      nextBySubject(subjectOf(this.topology, Stage.Failed), 1),
    );
    if (!first) return 0;
    let stored = 0;
    for (const s of this.seqs) if (s >= first.seq) stored++;
    return stored;
  }
}
