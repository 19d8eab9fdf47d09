import type { ConsumerConfig, DeliverPolicy, StreamConfig } from "@nats-io/jetstream";
import { millis, nanos } from "@nats-io/nats-core";
import {
  consumerConfigs,
  DEFAULT_TOPOLOGY,
  monitorConsumerConfig,
  stageConsumerConfig,
  stagesOf,
  streamConfig,
  type TopologyOptions,
  topologyOptions,
} from "./spec.js";

/**
 * `orderflow setup --interactive`: the seed's "wizard" path (`nats stream add`, `nats con add` with no
 * flags). Every question defaults to the seed's value, so pressing Enter throughout builds exactly
 * what `orderflow setup` builds. The mapping from answers to configs is this file, pure; the
 * questions themselves are cli/setup-wizard.ts.
 *
 * Not asked, because the pipeline depends on them: consumer names, filters, ack policies (explicit for
 * the stages' consumers, none for MONITOR), headers-only (off), flow control and backoff (none).
 * Asked for every declared stage (docs/pipeline.md), in order: the seed's NEW and DISPATCH by default.
 */

export type StartPolicy = "all" | "new" | "last";
export type ReplayChoice = "instant" | "original";

export interface PullAnswers {
  deliverPolicy: StartPolicy;
  replayPolicy: ReplayChoice;
  ackWaitMs: number;
  /** -1: unlimited. */
  maxDeliver: number;
  maxAckPending: number;
  maxWaiting: number;
}

export interface WizardAnswers {
  stream: string;
  subjectPrefix: string;
  storage: "file" | "memory";
  replicas: number;
  retention: "limits" | "interest";
  discard: "old" | "new";
  /** -1: unlimited, for this and the three limits below. */
  maxMsgs: number;
  maxMsgsPerSubject: number;
  maxBytes: number;
  maxMsgSize: number;
  /** 0: unlimited. */
  maxAgeMs: number;
  duplicateWindowMs: number;
  allowRollup: boolean;
  allowDelete: boolean;
  allowPurge: boolean;
  /** The first stage's consumer (the seed's NEW). */
  newConsumer: PullAnswers;
  /** The second stage's consumer (the seed's DISPATCH); unused by a one-stage pipeline. */
  dispatchConsumer: PullAnswers;
  /** The consumers of the third stage on, in order (none in the seed's pipeline). */
  moreStages: PullAnswers[];
  monitor: { deliverSubject: string; deliverPolicy: StartPolicy; replayPolicy: ReplayChoice };
}

export interface WizardPlan {
  topology: TopologyOptions;
  stream: StreamConfig;
  /** One per stage in order (NEW, DISPATCH for the seed), then MONITOR. */
  consumers: ConsumerConfig[];
}

function pullAnswers(c: ConsumerConfig): PullAnswers {
  return {
    deliverPolicy: c.deliver_policy as StartPolicy,
    replayPolicy: c.replay_policy as ReplayChoice,
    ackWaitMs: millis(c.ack_wait ?? 0),
    maxDeliver: c.max_deliver ?? -1,
    maxAckPending: c.max_ack_pending ?? 0,
    maxWaiting: c.max_waiting ?? 0,
  };
}

/** The seed's values as answers: what Enter accepts at every question. */
export function defaultWizardAnswers(t: TopologyOptions = { ...DEFAULT_TOPOLOGY }): WizardAnswers {
  const s = streamConfig(t);
  const { stages, monitor: m } = splitConsumers(t);
  const [n, d = n, ...more] = stages as [ConsumerConfig, ...ConsumerConfig[]];
  return {
    stream: t.stream,
    subjectPrefix: t.subjectPrefix,
    storage: s.storage as "file",
    replicas: t.replicas,
    retention: s.retention as "limits",
    discard: s.discard as "old",
    maxMsgs: s.max_msgs,
    maxMsgsPerSubject: s.max_msgs_per_subject,
    maxBytes: s.max_bytes,
    maxMsgSize: s.max_msg_size ?? -1,
    maxAgeMs: millis(s.max_age),
    duplicateWindowMs: millis(s.duplicate_window ?? 0),
    allowRollup: Boolean(s.allow_rollup_hdrs),
    allowDelete: !s.deny_delete,
    allowPurge: !s.deny_purge,
    newConsumer: pullAnswers(n),
    dispatchConsumer: pullAnswers(d),
    moreStages: more.map(pullAnswers),
    monitor: {
      deliverSubject: m.deliver_subject ?? t.monitorSubject,
      deliverPolicy: m.deliver_policy as StartPolicy,
      replayPolicy: m.replay_policy as ReplayChoice,
    },
  };
}

/** The stages' consumers in order, and the monitor's. */
function splitConsumers(t: TopologyOptions): { stages: ConsumerConfig[]; monitor: ConsumerConfig } {
  return { stages: stagesOf(t).map((s) => stageConsumerConfig(t, s)), monitor: monitorConsumerConfig(t) };
}

/** The answers for the `i`th stage's consumer; undefined keeps its declared settings. */
function stageAnswers(a: WizardAnswers, i: number): PullAnswers | undefined {
  return i === 0 ? a.newConsumer : i === 1 ? a.dispatchConsumer : a.moreStages?.[i - 2];
}

function applyPull(c: ConsumerConfig, a: PullAnswers | undefined): ConsumerConfig {
  if (!a) return c;
  return {
    ...c,
    deliver_policy: a.deliverPolicy as DeliverPolicy,
    replay_policy: a.replayPolicy as ConsumerConfig["replay_policy"],
    ack_wait: nanos(a.ackWaitMs),
    max_deliver: a.maxDeliver,
    max_ack_pending: a.maxAckPending,
    max_waiting: a.maxWaiting,
  };
}

/** Answers → the topology and the exact server configs `ensureTopology` will apply. Pure. */
export function wizardPlan(a: WizardAnswers, base: Partial<TopologyOptions> = {}): WizardPlan {
  const topology = topologyOptions({
    ...base,
    stream: a.stream,
    subjectPrefix: a.subjectPrefix,
    monitorSubject: a.monitor.deliverSubject,
    replicas: a.replicas,
  });
  const stream: StreamConfig = {
    ...streamConfig(topology),
    storage: a.storage as StreamConfig["storage"],
    retention: a.retention as StreamConfig["retention"],
    discard: a.discard as StreamConfig["discard"],
    max_msgs: a.maxMsgs,
    max_msgs_per_subject: a.maxMsgsPerSubject,
    max_bytes: a.maxBytes,
    max_msg_size: a.maxMsgSize,
    max_age: nanos(Math.max(0, a.maxAgeMs)),
    duplicate_window: nanos(a.duplicateWindowMs),
    allow_rollup_hdrs: a.allowRollup,
    deny_delete: !a.allowDelete,
    deny_purge: !a.allowPurge,
  };
  const { stages, monitor: m } = splitConsumers(topology);
  const monitor: ConsumerConfig = {
    ...m,
    deliver_policy: a.monitor.deliverPolicy as DeliverPolicy,
    replay_policy: a.monitor.replayPolicy as ConsumerConfig["replay_policy"],
  };
  return {
    topology,
    stream,
    consumers: [...stages.map((c, i) => applyPull(c, stageAnswers(a, i))), monitor],
  };
}

/**
 * Fields where the plan differs from what a plain `orderflow setup` would build for the same stream
 * and subject prefix (`base` is the topology of its flags): such a run reports them as drift and puts
 * the seed's values back, or refuses for fields it cannot change in place.
 */
export function seedDeviations(plan: WizardPlan, base: Partial<TopologyOptions> = {}): string[] {
  const plain = topologyOptions({
    ...base,
    stream: plan.topology.stream,
    subjectPrefix: plan.topology.subjectPrefix,
  });
  const seedStream = streamConfig(plain);
  const seedConsumers = consumerConfigs(plain);
  const differ = (object: string, a: object, b: object) =>
    Object.keys(b)
      .filter(
        (k) =>
          JSON.stringify((a as Record<string, unknown>)[k]) !==
          JSON.stringify((b as Record<string, unknown>)[k]),
      )
      .map((k) => `${object}.${k}`);
  return [
    ...differ("stream", plan.stream, seedStream),
    ...plan.consumers.flatMap((c, i) => differ(c.durable_name ?? "?", c, seedConsumers[i] as ConsumerConfig)),
  ];
}
