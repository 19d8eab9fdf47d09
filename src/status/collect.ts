import type { ConsumerInfo, JetStreamManager } from "@nats-io/jetstream";
import { requireConsumer, streamInfo } from "../topology/read.js";
import { replayedSubject } from "../topology/replay-markers.js";
import { Stage, stagesOf, stepsOf, subjectOf, type TopologyOptions } from "../topology/spec.js";
import { ReplayedDeadLetters } from "./replayed-dead-letters.js";

/** What one pull consumer's info says about the stage behind it. */
export interface ConsumerSample {
  name: string;
  /** The stage that reads it (`processor`, `validator`); samples made by hand may leave it out. */
  stage?: string;
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
  /**
   * Messages stored per step subject, by token, in pipeline order (`received`, `processed`,
   * `completed` for the seed), then `failed`.
   */
  subjects: Record<string, number>;
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
  /** Each stage's consumer, in pipeline order, by {@link stageKeys}. */
  consumers: Record<string, ConsumerSample>;
}

/**
 * How a sample keys each stage's consumer: a declared stage by its name; the seed's two by `new`
 * and `dispatch`, the keys its samples, `status --json` readers and the dashboard had before
 * stages were declared.
 */
export function stageKeys(t: Pick<TopologyOptions, "stages" | "newConsumer" | "dispatchConsumer">): string[] {
  return t.stages === undefined ? ["new", "dispatch"] : t.stages.map((s) => s.name);
}

/** The subject tokens a sample counts, in order: every step, then `failed`. */
export function sampledSubjects(
  t: Pick<TopologyOptions, "stages" | "newConsumer" | "dispatchConsumer">,
): string[] {
  return [...stepsOf(t), Stage.Failed];
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

async function requiredConsumer(jsm: JetStreamManager, t: TopologyOptions, name: string, stage: string) {
  return { ...consumerSample(await requireConsumer(jsm, t.stream, name)), stage };
}

/**
 * Takes one sample: one JetStream API request for the stream and one per stage, and a read of the replay markers stored since
 * `replays` last looked (none while there are no markers). A caller that samples repeatedly passes
 * the same `replays`.
 */
export async function collectStatus(
  jsm: JetStreamManager,
  t: TopologyOptions,
  replays: ReplayedDeadLetters = new ReplayedDeadLetters(jsm, t),
): Promise<StatusSample> {
  const si = await streamInfo(jsm, t, { subjects_filter: ">" });
  const stages = stagesOf(t);
  const samples = await Promise.all(stages.map((s) => requiredConsumer(jsm, t, s.consumer, s.name)));
  const keys = stageKeys(t);
  const consumers = Object.fromEntries(samples.map((c, i) => [keys[i] as string, c]));
  const counts = si.state.subjects ?? {};
  const tokens = sampledSubjects(t);
  const subjects = Object.fromEntries(tokens.map((s) => [s, counts[subjectOf(t, s)] ?? 0]));
  const stageSubjects = new Set(tokens.map((s) => subjectOf(t, s)));
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
    unreplayedDeadLetters: Math.max(0, (subjects[Stage.Failed] ?? 0) - replayedDeadLetters),
    lastSeq: si.state.last_seq,
    consumers,
  };
}
