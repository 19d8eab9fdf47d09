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
}

export const DEFAULT_TOPOLOGY: Readonly<TopologyOptions> = Object.freeze({
  stream: "ORDERS",
  subjectPrefix: "ORDERS",
  newConsumer: "NEW",
  dispatchConsumer: "DISPATCH",
  monitorConsumer: "MONITOR",
  monitorSubject: "monitor.ORDERS",
  replicas: 1,
});

export function topologyOptions(overrides: Partial<TopologyOptions> = {}): TopologyOptions {
  return withDefaults<TopologyOptions>(DEFAULT_TOPOLOGY, overrides);
}

/** `ORDERS.received`, `ORDERS.processed`, … for a topology. */
export function subjectOf(t: Pick<TopologyOptions, "subjectPrefix">, stage: Stage): string {
  return `${t.subjectPrefix}.${stage}`;
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
    duplicate_window: nanos(SEED.duplicateWindowMs),
    allow_rollup_hdrs: false,
    deny_delete: false,
    deny_purge: false,
    num_replicas: t.replicas,
  } as StreamConfig;
}

function pullConsumer(t: TopologyOptions, durable: string, filter: string): ConsumerConfig {
  return {
    durable_name: durable,
    deliver_policy: DeliverPolicy.All,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(SEED.ackWaitMs),
    replay_policy: ReplayPolicy.Instant,
    filter_subject: filter,
    max_deliver: -1,
    max_ack_pending: SEED.maxAckPending,
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

export function consumerConfigs(t: TopologyOptions): ConsumerConfig[] {
  return [newConsumerConfig(t), dispatchConsumerConfig(t), monitorConsumerConfig(t)];
}
