import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  DiscardPolicy,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { withDefaults } from "../common/defaults.js";
import { pipelineSteps, type StageSpec, seedStages } from "./pipeline.js";

/**
 * The seed's topology as data: what its `nats stream add ORDERS …` and three `nats consumer add`
 * commands create. Server-shaped (snake_case, nanosecond durations) so it can be sent and compared
 * as it is; our own options below are camelCase.
 */

/** The order lifecycle subjects, below the stream's subject prefix. */
export const Stage = {
  Received: "received",
  Processed: "processed",
  Completed: "completed",
  Failed: "failed",
} as const;
export type Stage = (typeof Stage)[keyof typeof Stage];
export const STAGES: readonly Stage[] = [Stage.Received, Stage.Processed, Stage.Completed, Stage.Failed];

export interface TopologyOptions {
  /** Stream name; default `ORDERS`. */
  stream: string;
  /** Subject prefix: the stream takes `<prefix>.*`; default `ORDERS`. */
  subjectPrefix: string;
  /** Pull consumer feeding the processor; default `NEW`. */
  newConsumer: string;
  /** Pull consumer feeding the dispatcher; default `DISPATCH`. */
  dispatchConsumer: string;
  /** Push consumer mirroring every event; default `MONITOR`. */
  monitorConsumer: string;
  /** Deliver subject of the push consumer; default `monitor.ORDERS`. */
  monitorSubject: string;
  /** Stream and consumer replicas (1, or 3 on a cluster); default 1. */
  replicas: number;
  /** The stream's duplicate window; default 120,000 ms, the seed's 2m. */
  duplicateWindowMs: number;
  /**
   * The stages, from a pipeline file (docs/pipeline.md); undefined: the seed's processor and
   * dispatcher on `newConsumer` and `dispatchConsumer`. Read it through {@link stagesOf}.
   */
  stages: readonly StageSpec[] | undefined;
}

export const DEFAULT_TOPOLOGY: Readonly<TopologyOptions> = Object.freeze({
  stream: "ORDERS",
  subjectPrefix: "ORDERS",
  newConsumer: "NEW",
  dispatchConsumer: "DISPATCH",
  monitorConsumer: "MONITOR",
  monitorSubject: "monitor.ORDERS",
  replicas: 1,
  duplicateWindowMs: 120_000,
  stages: undefined,
});

export function topologyOptions(overrides: Partial<TopologyOptions> = {}): TopologyOptions {
  return withDefaults<TopologyOptions>(DEFAULT_TOPOLOGY, overrides);
}

/** `ORDERS.received`, `ORDERS.processed`, … for a topology: any step token below its prefix. */
export function subjectOf(t: Pick<TopologyOptions, "subjectPrefix">, stage: string): string {
  return `${t.subjectPrefix}.${stage}`;
}

/** The pipeline's stages: the declared ones, or the seed's two. */
export function stagesOf(
  t: Pick<TopologyOptions, "stages" | "newConsumer" | "dispatchConsumer">,
): readonly StageSpec[] {
  return t.stages ?? seedStages(t.newConsumer, t.dispatchConsumer);
}

/** Every step of an order as a subject token, in order: `received`, `processed`, `completed` for the seed. */
export function stepsOf(t: Pick<TopologyOptions, "stages" | "newConsumer" | "dispatchConsumer">): string[] {
  return pipelineSteps(stagesOf(t));
}

/** Where orders enter: the first stage's input (`received`). */
export function intakeStep(t: Pick<TopologyOptions, "stages" | "newConsumer" | "dispatchConsumer">): string {
  return stepsOf(t)[0] as string;
}

/** Where orders end: the last stage's output (`completed`). */
export function finalStep(t: Pick<TopologyOptions, "stages" | "newConsumer" | "dispatchConsumer">): string {
  const steps = stepsOf(t);
  return steps[steps.length - 1] as string;
}

/** Seed values the nats CLI spells out or that the server fills in (checked on 2.9.10). */
export const SEED = Object.freeze({
  duplicateWindowMs: 120_000,
  ackWaitMs: 30_000,
  maxAckPending: 1000,
  maxWaiting: 512,
});

export function streamConfig(t: TopologyOptions): StreamConfig {
  return {
    name: t.stream,
    subjects: [`${t.subjectPrefix}.*`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_msgs: -1,
    max_msgs_per_subject: -1,
    max_bytes: -1,
    max_age: 0,
    max_msg_size: -1,
    max_consumers: -1,
    duplicate_window: nanos(t.duplicateWindowMs),
    allow_rollup_hdrs: false,
    deny_delete: false,
    deny_purge: false,
    num_replicas: t.replicas,
  } as StreamConfig;
}

function pullConsumer(
  t: TopologyOptions,
  durable: string,
  filter: string,
  { ackWaitMs, maxAckPending }: Pick<StageSpec, "ackWaitMs" | "maxAckPending"> = SEED,
): ConsumerConfig {
  return {
    durable_name: durable,
    deliver_policy: DeliverPolicy.All,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(ackWaitMs),
    replay_policy: ReplayPolicy.Instant,
    filter_subject: filter,
    max_deliver: -1,
    max_ack_pending: maxAckPending,
    max_waiting: SEED.maxWaiting,
    headers_only: false,
    num_replicas: t.replicas,
  } as ConsumerConfig;
}

export function newConsumerConfig(t: TopologyOptions): ConsumerConfig {
  return pullConsumer(t, t.newConsumer, subjectOf(t, Stage.Received));
}

export function dispatchConsumerConfig(t: TopologyOptions): ConsumerConfig {
  return pullConsumer(t, t.dispatchConsumer, subjectOf(t, Stage.Processed));
}

export function monitorConsumerConfig(t: TopologyOptions): ConsumerConfig {
  return {
    durable_name: t.monitorConsumer,
    deliver_subject: t.monitorSubject,
    deliver_policy: DeliverPolicy.All,
    ack_policy: AckPolicy.None,
    replay_policy: ReplayPolicy.Instant,
    max_deliver: -1,
    flow_control: false,
    idle_heartbeat: 0,
    headers_only: false,
    num_replicas: t.replicas,
  } as ConsumerConfig;
}

/** The pull consumer a stage reads: the seed's NEW and DISPATCH settings unless its spec says otherwise. */
export function stageConsumerConfig(t: TopologyOptions, stage: StageSpec): ConsumerConfig {
  return pullConsumer(t, stage.consumer, `${t.subjectPrefix}.${stage.input}`, stage);
}

/** Every consumer of the pipeline: one per stage, in order, then the monitor. */
export function consumerConfigs(t: TopologyOptions): ConsumerConfig[] {
  return [...stagesOf(t).map((s) => stageConsumerConfig(t, s)), monitorConsumerConfig(t)];
}
