import { confirm, input, select } from "@inquirer/prompts";
import type { ConsumerConfig, DeliverPolicy, StreamConfig } from "@nats-io/jetstream";
import { millis, nanos } from "@nats-io/nats-core";
import { durationMs } from "../common/duration.js";
import { formatDurationNs } from "../common/format.js";
import {
  consumerConfigs,
  DEFAULT_TOPOLOGY,
  Stage,
  streamConfig,
  subjectOf,
  type TopologyOptions,
  topologyOptions,
} from "./spec.js";

/**
 * `orderflow setup --interactive`: the seed's "wizard" path (`nats stream add`, `nats con add` with no
 * flags). Every question defaults to the seed's value, so pressing Enter throughout builds exactly
 * what `orderflow setup` builds. The mapping from answers to configs is a pure function.
 *
 * Not asked, because the pipeline depends on them: consumer names, filters, ack policies (explicit for
 * NEW/DISPATCH, none for MONITOR), headers-only (off), flow control and backoff (none).
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
  newConsumer: PullAnswers;
  dispatchConsumer: PullAnswers;
  monitor: { deliverSubject: string; deliverPolicy: StartPolicy; replayPolicy: ReplayChoice };
}

export interface WizardPlan {
  topology: TopologyOptions;
  stream: StreamConfig;
  /** NEW, DISPATCH, MONITOR. */
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
  const [n, d, m] = consumerConfigs(t) as [ConsumerConfig, ConsumerConfig, ConsumerConfig];
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
    monitor: {
      deliverSubject: m.deliver_subject ?? t.monitorSubject,
      deliverPolicy: m.deliver_policy as StartPolicy,
      replayPolicy: m.replay_policy as ReplayChoice,
    },
  };
}

function applyPull(c: ConsumerConfig, a: PullAnswers): ConsumerConfig {
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
  const [n, d, m] = consumerConfigs(topology) as [ConsumerConfig, ConsumerConfig, ConsumerConfig];
  const monitor: ConsumerConfig = {
    ...m,
    deliver_policy: a.monitor.deliverPolicy as DeliverPolicy,
    replay_policy: a.monitor.replayPolicy as ConsumerConfig["replay_policy"],
  };
  return {
    topology,
    stream,
    consumers: [applyPull(n, a.newConsumer), applyPull(d, a.dispatchConsumer), monitor],
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

/** Where the prompts read and write; tests pass streams, the CLI the terminal. */
export interface PromptContext {
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  signal?: AbortSignal;
}

const NAME = /^[^\s.*>/\\]+$/;
const TOKEN_PATH = /^[^\s*>]+$/;

function intAnswer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): true | string => {
    const n = Number(v.trim());
    return Number.isInteger(n) && n >= min && n <= max ? true : `a whole number from ${min} to ${max}`;
  };
}

function durationAnswer(allowUnlimited: boolean) {
  return (v: string): true | string => {
    const t = v.trim();
    if (allowUnlimited && (t === "-1" || t === "0")) return true;
    const ms = durationMs(t);
    return ms !== undefined && ms > 0
      ? true
      : `a duration like 30s, 2m0s, 1h${allowUnlimited ? " (-1: unlimited)" : ""}`;
  };
}

const showDuration = (ms: number) => formatDurationNs(nanos(ms));

/** Asks every question in the seed wizard's order; Enter keeps each default. */
export async function runWizard(
  ctx: PromptContext,
  defaults: WizardAnswers = defaultWizardAnswers(),
): Promise<WizardAnswers> {
  const ask = (message: string, def: string, validate: (v: string) => true | string) =>
    input({ message, default: def, validate }, ctx).then((v) => v.trim());
  const askInt = async (message: string, def: number, min: number, max?: number) =>
    Number(await ask(message, String(def), intAnswer(min, max)));
  const askDuration = async (message: string, defMs: number, allowUnlimited = false) => {
    const v = await ask(
      message,
      defMs === 0 && allowUnlimited ? "-1" : showDuration(defMs),
      durationAnswer(allowUnlimited),
    );
    return v === "-1" || v === "0" ? 0 : (durationMs(v) as number);
  };
  const choose = <T extends string>(message: string, choices: readonly T[], def: T) =>
    select<T>({ message, choices: choices.map((value) => ({ value, name: value })), default: def }, ctx);
  const yesNo = (message: string, def: boolean) => confirm({ message, default: def }, ctx);

  const stream = await ask(
    "Stream Name",
    defaults.stream,
    (v) => NAME.test(v.trim()) || "no spaces, dots, *, > or slashes",
  );
  const subjectPrefix = await ask(
    `Subject prefix (the stream takes <prefix>.*)`,
    defaults.subjectPrefix,
    (v) =>
      TOKEN_PATH.test(v.trim()) && !v.trim().endsWith(".")
        ? true
        : "subject tokens without spaces or wildcards",
  );
  const a: WizardAnswers = {
    ...defaults,
    stream,
    subjectPrefix,
    storage: await choose("Storage", ["file", "memory"] as const, defaults.storage),
    replicas: await askInt("Replication", defaults.replicas, 1, 5),
    retention: await choose("Retention Policy", ["limits", "interest"] as const, defaults.retention),
    discard: await choose("Discard Policy", ["old", "new"] as const, defaults.discard),
    maxMsgs: await askInt("Stream Messages Limit (-1: unlimited)", defaults.maxMsgs, -1),
    maxMsgsPerSubject: await askInt("Per Subject Messages Limit", defaults.maxMsgsPerSubject, -1),
    maxBytes: await askInt("Total Stream Size in bytes", defaults.maxBytes, -1),
    maxAgeMs: await askDuration("Message TTL", defaults.maxAgeMs, true),
    maxMsgSize: await askInt("Max Message Size in bytes", defaults.maxMsgSize, -1),
    duplicateWindowMs: await askDuration("Duplicate tracking time window", defaults.duplicateWindowMs),
    allowRollup: await yesNo("Allow message Roll-ups", defaults.allowRollup),
    allowDelete: await yesNo("Allow message deletion", defaults.allowDelete),
    allowPurge: await yesNo("Allow purging subjects or the entire stream", defaults.allowPurge),
  };
  const t = topologyOptions({ stream, subjectPrefix });
  const pull = async (name: string, filter: string, d: PullAnswers): Promise<PullAnswers> => ({
    deliverPolicy: await choose(
      `${name} (pull, ${filter}): Start policy`,
      ["all", "new", "last"] as const,
      d.deliverPolicy,
    ),
    replayPolicy: await choose(`${name}: Replay policy`, ["instant", "original"] as const, d.replayPolicy),
    ackWaitMs: await askDuration(`${name}: Acknowledgement wait`, d.ackWaitMs),
    maxDeliver: await askInt(`${name}: Maximum Allowed Deliveries (-1: unlimited)`, d.maxDeliver, -1),
    maxAckPending: await askInt(`${name}: Maximum Acknowledgements Pending`, d.maxAckPending, 1),
    maxWaiting: await askInt(`${name}: Max Waiting Pulls`, d.maxWaiting, 1),
  });
  a.newConsumer = await pull(t.newConsumer, subjectOf(t, Stage.Received), defaults.newConsumer);
  a.dispatchConsumer = await pull(
    t.dispatchConsumer,
    subjectOf(t, Stage.Processed),
    defaults.dispatchConsumer,
  );
  a.monitor = {
    deliverSubject: await ask(
      `${t.monitorConsumer} (push): Delivery target`,
      defaults.monitor.deliverSubject,
      (v) =>
        !TOKEN_PATH.test(v.trim())
          ? "a subject without spaces or wildcards"
          : v.trim().startsWith(`${subjectPrefix}.`)
            ? `must be outside ${subjectPrefix}.* (the stream would capture its own deliveries)`
            : true,
    ),
    deliverPolicy: await choose(
      `${t.monitorConsumer}: Start policy`,
      ["all", "new", "last"] as const,
      defaults.monitor.deliverPolicy,
    ),
    replayPolicy: await choose(
      `${t.monitorConsumer}: Replay policy`,
      ["instant", "original"] as const,
      defaults.monitor.replayPolicy,
    ),
  };
  return a;
}

/** Whether a prompt error means the operator cancelled (Ctrl-C, or our shutdown signal). */
export function isPromptCancel(err: unknown): boolean {
  return err instanceof Error && (err.name === "ExitPromptError" || err.name === "AbortPromptError");
}
