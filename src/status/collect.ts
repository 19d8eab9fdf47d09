import type { ConsumerInfo, JetStreamManager } from "@nats-io/jetstream";
import { requireConsumer, streamInfo } from "../topology/read.js";
import { replayedSubject } from "../topology/replay-markers.js";
import { STAGES, Stage, subjectOf, type TopologyOptions } from "../topology/spec.js";
import { ReplayedDeadLetters } from "./replayed-dead-letters.js";

/** What one pull consumer's info says about the stage behind it. */
export interface ConsumerSample {
  name: string;
  /** Messages not yet delivered to any worker. */
  numPending: number;
  /** Delivered, not yet acked. */
  numAckPending: number;
  numRedelivered: number;
  /** Pull requests waiting on the server: workers with room for more. */
  numWaiting: number;
  /** Deliveries so far (consumer sequence): advances whenever a worker pulls. */
  deliveredConsumerSeq: number;
  /** Everything up to here is acked. */
  ackFloorStreamSeq: number;
}

/** One reading of the pipeline, taken from the server (never from MONITOR, which may drop events). */
export interface StatusSample {
  /** When it was taken, ms since the epoch. */
  atMs: number;
  stream: string;
  /** Messages stored per stage subject. */
  subjects: Record<Stage, number>;
  /**
   * Messages stored on the stream's other subjects (replay markers on `<prefix>.replayed`, anything
   * else published under the prefix), so the subjects add up to `messages`.
   */
  otherSubjects: Record<string, number>;
  /** All messages in the stream, other subjects included. */
  messages: number;
  /**
   * Dead letters whose replay finished (each counted once): they no longer count as failures to act
   * on. A replayed order that fails again is a new dead letter.
   */
  replayedDeadLetters: number;
  /** Dead letters stored whose replay has not finished: the failures still to act on. */
  unreplayedDeadLetters: number;
  lastSeq: number;
  /** The processor's consumer (NEW) and the dispatcher's (DISPATCH). */
  consumers: { new: ConsumerSample; dispatch: ConsumerSample };
}

export function consumerSample(ci: ConsumerInfo): ConsumerSample {
  return {
    name: ci.name,
    numPending: ci.num_pending,
    numAckPending: ci.num_ack_pending,
    numRedelivered: ci.num_redelivered,
    numWaiting: ci.num_waiting,
    deliveredConsumerSeq: ci.delivered.consumer_seq,
    ackFloorStreamSeq: ci.ack_floor.stream_seq,
  };
}

async function requiredConsumer(jsm: JetStreamManager, t: TopologyOptions, name: string) {
  return consumerSample(await requireConsumer(jsm, t.stream, name));
}

/**
 * Takes one sample: three JetStream API requests, and a read of the replay markers stored since
 * `replays` last looked (none while there are no markers). A caller that samples repeatedly passes
 * the same `replays`.
 */
export async function collectStatus(
  jsm: JetStreamManager,
  t: TopologyOptions,
  replays: ReplayedDeadLetters = new ReplayedDeadLetters(jsm, t),
): Promise<StatusSample> {
  const si = await streamInfo(jsm, t, { subjects_filter: ">" });
  const [nw, dispatch] = await Promise.all([
    requiredConsumer(jsm, t, t.newConsumer),
    requiredConsumer(jsm, t, t.dispatchConsumer),
  ]);
  const counts = si.state.subjects ?? {};
  const subjects = Object.fromEntries(STAGES.map((s) => [s, counts[subjectOf(t, s)] ?? 0])) as Record<
    Stage,
    number
  >;
  const stageSubjects = new Set(STAGES.map((s) => subjectOf(t, s)));
  const otherSubjects = Object.fromEntries(
    Object.entries(counts)
      .filter(([subject]) => !stageSubjects.has(subject))
      .sort(([a], [b]) => a.localeCompare(b)),
  );
  const markers = counts[replayedSubject(t)] ?? 0;
  const replayedDeadLetters = markers > 0 ? await replays.count() : 0;
  return {
    atMs: Date.now(),
    stream: t.stream,
    subjects,
    otherSubjects,
    messages: si.state.messages,
    replayedDeadLetters,
    unreplayedDeadLetters: Math.max(0, subjects[Stage.Failed] - replayedDeadLetters),
    lastSeq: si.state.last_seq,
    consumers: { new: nw, dispatch },
  };
}
