import type { ConsumerInfo, JetStreamManager } from "@nats-io/jetstream";
import { requireConsumer, streamInfo } from "../topology/read.js";
import { STAGES, type Stage, subjectOf, type TopologyOptions } from "../topology/spec.js";

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
  /** All messages in the stream, other subjects included. */
  messages: number;
  lastSeq: number;
  /** The processor's consumer (NEW) and the dispatcher's (DISPATCH). */
  consumers: { new: ConsumerSample; dispatch: ConsumerSample };
}

function consumerSample(ci: ConsumerInfo): ConsumerSample {
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

/** Takes one sample: three JetStream API requests. */
export async function collectStatus(jsm: JetStreamManager, t: TopologyOptions): Promise<StatusSample> {
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
  return {
    atMs: Date.now(),
    stream: t.stream,
    subjects,
    messages: si.state.messages,
    lastSeq: si.state.last_seq,
    consumers: { new: nw, dispatch },
  };
}
