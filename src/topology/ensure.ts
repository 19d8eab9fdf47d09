import {
  type ConsumerConfig,
  type ConsumerInfo,
  type ConsumerUpdateConfig,
  DeliverPolicy,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import {
  errorMessage,
  PipelineChangeRefusedError,
  TopologyError,
  UnupdatableFieldError,
} from "../common/errors.js";
import type { ServerFeatures } from "../common/server-features.js";
import { isOrderflowMade, ownMetadata, withOrderflowMetadata } from "./consumer-metadata.js";
import { diffConsumer, diffStream, type FieldDiff } from "./diff.js";
import {
  describeUndeclared,
  findUndeclared,
  leftBehind,
  othersReading,
  plannedStart,
  planRepoint,
  planTakeover,
  pruneProblems,
  type Repoint,
  refusePrune,
  refuseRepoint,
  refuseTakeover,
  type StartAt,
  stepToken,
  type Takeover,
  type UndeclaredConsumer,
  upstreamProblem,
} from "./pipeline-change.js";
import { consumerInfo, findStream, listConsumers } from "./read.js";
import { consumerConfigs, stagesOf, stepsOf, streamConfig, subjectOf, type TopologyOptions } from "./spec.js";

export const ChangeKind = {
  Create: "create",
  Update: "update",
  /** A stage's consumer moved to another input subject (docs/pipeline-changes.md). */
  Repoint: "re-point",
  UpToDate: "up-to-date",
} as const;
export type ChangeKind = (typeof ChangeKind)[keyof typeof ChangeKind];

export interface TopologyChange {
  /** `stream ORDERS` or `consumer ORDERS > NEW`, as the nats CLI names them. */
  object: string;
  kind: ChangeKind;
  diffs: FieldDiff[];
  /** A consumer created (or re-created) at a stream sequence instead of its declared start. */
  start?: StartAt;
  /** A re-point: how, and why it cannot be done now (a dry run reports it; a run refuses). */
  repoint?: Repoint;
  /** A created consumer taking its subject over from an undeclared one, and why not now. */
  takeover?: Takeover;
  /** A created consumer: consumers not orderflow's that read its subject (not taken over from). */
  othersReading?: string[];
}

export interface EnsureOptions {
  /** Plan only: report what would change and change nothing. */
  dryRun?: boolean;
  /** Explicit configs (the setup wizard's answers); default the seed's, from the topology. */
  stream?: StreamConfig;
  consumers?: ConsumerConfig[];
  /**
   * The server's features (`serverFeatures(nc)`): on 2.10+ consumers that are created or updated
   * carry orderflow's metadata. Without it none is written, which every version accepts.
   */
  server?: ServerFeatures;
  /**
   * Existing objects keep the replica count they have; only new ones get the topology's. For
   * `up`, which has no `--replicas`: `setup` owns the count, and `up` against an R3 topology must
   * neither scale it down nor (as a read-only user) fail on an update it may not make.
   */
  keepReplicas?: boolean;
  /**
   * Report the stage consumers on the stream that the pipeline no longer declares (lists the
   * stream's consumers; `setup` does, `up` does not).
   */
  findUndeclared?: boolean;
  /** Delete the undeclared stage consumers (refused while they hold orders no stage reads, unless `force`). */
  prune?: boolean;
  /**
   * With `prune`: delete them even so; on 2.10+ a consumer without orderflow's metadata on a declared
   * step also counts as a stage's (docs/pipeline-changes.md, "Whose consumers").
   */
  force?: boolean;
}

/** An undeclared stage consumer and what this run did with it. */
export interface UndeclaredReport extends UndeclaredConsumer {
  object: string;
  action: "kept" | "deleted" | "would delete";
}

export interface TopologyPlan {
  changes: TopologyChange[];
  /** Durable pull consumers on the stream's stage subjects that no declared stage reads. */
  undeclared: UndeclaredReport[];
  applied: boolean;
}

export function isUpToDate(plan: TopologyPlan): boolean {
  return plan.changes.every((c) => c.kind === ChangeKind.UpToDate);
}

function refuseFixed(change: TopologyChange): void {
  const fixed = change.diffs.filter((d) => !d.updatable);
  if (fixed.length > 0) {
    throw new UnupdatableFieldError(
      change.object,
      fixed.map((d) => d.field),
      fixed
        .map((d) => `${d.field} is ${JSON.stringify(d.actual)}, want ${JSON.stringify(d.desired)}`)
        .join("; "),
    );
  }
}

/**
 * Brings the server to the topology: creates what is missing, updates what drifted, and refuses
 * (before changing anything) when a difference cannot be updated in place. Safe to run any number
 * of times, also against a topology made by the seed's nats CLI commands.
 */
export async function ensureTopology(
  jsm: JetStreamManager,
  t: TopologyOptions,
  opts: EnsureOptions = {},
): Promise<TopologyPlan> {
  const changes: TopologyChange[] = [];
  const stream = await findStream(jsm, t.stream);
  const keep = <C extends { num_replicas?: number }>(config: C, existing: number | undefined): C =>
    opts.keepReplicas && existing !== undefined ? { ...config, num_replicas: existing } : config;
  const desiredStream = keep(opts.stream ?? streamConfig(t), stream?.config.num_replicas);
  const streamChange: TopologyChange = stream
    ? {
        object: `stream ${t.stream}`,
        kind: ChangeKind.UpToDate,
        diffs: diffStream(stream.config, desiredStream),
      }
    : { object: `stream ${t.stream}`, kind: ChangeKind.Create, diffs: [] };
  if (streamChange.diffs.length > 0) streamChange.kind = ChangeKind.Update;
  changes.push(streamChange);

  // A filter change is a re-point only between two steps under the stream's subject prefix, and only
  // while the stream keeps its subjects: anything else (a mistyped --subject-prefix) is refused as a
  // field that cannot change in place, as before pipelines could change.
  const streamSubjectsChange = streamChange.diffs.some((d) => d.field === "subjects");
  const prefixes = (stream?.config.subjects ?? []).filter((x) => x.endsWith(".*")).map((x) => x.slice(0, -2));
  const isStepMove = (from: string | undefined, to: string | undefined) =>
    !streamSubjectsChange &&
    prefixes.some((p) => stepToken(from, p) !== undefined && stepToken(to, p) !== undefined);
  // A consumer orderflow created at a stream sequence reads "all" from there on. Which ones did: on
  // 2.10+ those carrying its metadata; on 2.9 (none kept), only a declared pipeline's (the seed's own
  // consumers are never created so, and one made by hand with a start is drift, as it always was).
  const byOrderflow = (ci: ConsumerInfo) =>
    opts.server?.metadata ? isOrderflowMade(ci.config) : t.stages !== undefined;

  const wantedConfigs = opts.consumers ?? consumerConfigs(t);
  const consumers: Array<{ change: TopologyChange; config: ConsumerConfig; existing?: ConsumerInfo }> = [];
  for (const wanted of wantedConfigs) {
    const name = wanted.durable_name as string;
    const object = `consumer ${t.stream} > ${name}`;
    const info = stream ? await consumerInfo(jsm, t.stream, name) : undefined;
    // A consumer's 0 means "as many as the stream" (diffConsumer compares it so).
    const config = keep(wanted, info && (info.config.num_replicas || stream?.config.num_replicas));
    const diffs = info
      ? diffConsumer(info, config, stream?.config.num_replicas ?? t.replicas, byOrderflow(info))
      : [];
    const kind = !info ? ChangeKind.Create : diffs.length > 0 ? ChangeKind.Update : ChangeKind.UpToDate;
    const change: TopologyChange = { object, kind, diffs };
    // A pull consumer's filter is its stage's input: changing it is a re-point, planned below.
    const filter = diffs.find((d) => d.field === "filter_subject");
    if (
      info &&
      filter &&
      !config.deliver_subject &&
      !info.config.deliver_subject &&
      isStepMove(info.config.filter_subject, config.filter_subject)
    ) {
      filter.updatable = true;
      change.kind = ChangeKind.Repoint;
    }
    changes.push(change);
    consumers.push({ change, config, existing: info });
  }

  // Listing needs $JS.API.CONSUMER.LIST, which a read-only `up` user may lack: only where it
  // matters, where a consumer is created or re-pointed (which needs more rights than listing anyway).
  const moving = changes.some((c) => c.kind === ChangeKind.Repoint || c.kind === ChangeKind.Create);
  const lookAround = stream !== undefined && (opts.findUndeclared || opts.prune || moving);
  const existing = lookAround ? await listConsumers(jsm, t.stream) : [];
  const declared = wantedConfigs.map((c) => c.durable_name as string);
  const rule = {
    metadata: opts.server?.metadata ?? false,
    steps: stepsOf(t),
    force: Boolean(opts.prune && opts.force),
  };
  const undeclaredInfos = findUndeclared(existing, declared, t.subjectPrefix, rule);
  const stageOf = (consumer: string) => stagesOf(t).find((s) => s.consumer === consumer)?.name ?? consumer;
  /** The existing declared stage consumer writing `subject`: the stage upstream of a re-pointed one. */
  const upstreamOf = (subject: string) => {
    const stage = stagesOf(t).find((s) => subjectOf(t, s.output) === subject);
    const info = consumers.find((c) => c.config.durable_name === stage?.consumer)?.existing;
    return stage && info ? { stage: stage.name, info } : undefined;
  };
  const created = consumers.filter((c) => c.change.kind === ChangeKind.Create).map((c) => c.config);
  for (const c of consumers) {
    if (c.change.kind !== ChangeKind.Repoint || !c.existing) continue;
    c.change.repoint = planRepoint(
      c.existing,
      c.config,
      stageOf(c.existing.name),
      created,
      undeclaredInfos,
      (name, start) => {
        const taker = consumers.find((x) => x.config.durable_name === name);
        if (taker) taker.change.start = start;
      },
      upstreamOf(c.config.filter_subject ?? ""),
    );
    if (c.change.repoint.start) c.change.start = c.change.repoint.start;
  }
  for (const c of consumers) {
    if (c.change.kind !== ChangeKind.Create || c.change.start) continue;
    const takeover = planTakeover(c.config, undeclaredInfos);
    if (takeover) {
      c.change.takeover = takeover;
      c.change.start = takeover.start;
    }
    const others = othersReading(existing, declared, t.subjectPrefix, rule, c.config.filter_subject ?? "");
    if (!takeover && others.length > 0 && !c.config.deliver_subject) c.change.othersReading = others;
  }
  const planned = new Map(
    consumers.map((c) => [
      c.config.durable_name as string,
      c.change.kind === ChangeKind.Create || c.change.repoint?.how === "recreate"
        ? plannedStart(c.config, c.change.start)
        : plannedStart(c.existing?.config ?? c.config),
    ]),
  );
  const undeclared: UndeclaredReport[] = undeclaredInfos.map((ci) => ({
    ...describeUndeclared(ci, planned),
    object: `consumer ${t.stream} > ${ci.name}`,
    action: opts.prune ? (opts.dryRun ? "would delete" : "deleted") : "kept",
  }));

  // Refuse before touching anything, so a failed setup never leaves a half-applied topology.
  for (const change of changes) refuseFixed(change);
  if (opts.dryRun) return { changes, undeclared, applied: false };
  for (const { change } of consumers) {
    if (change.repoint && change.repoint.problems.length > 0) {
      refuseRepoint(change.object, change.repoint, stageOf(change.repoint.consumer));
    }
    if (change.takeover && change.takeover.problems.length > 0)
      refuseTakeover(change.object, change.takeover);
  }
  if (opts.prune && !opts.force) {
    for (const u of undeclared) if (pruneProblems(u).length > 0) refusePrune(u.object, u);
  }
  if (changes.every((c) => c.kind === ChangeKind.UpToDate) && !(opts.prune && undeclared.length > 0)) {
    return { changes, undeclared, applied: false };
  }

  // A worker started since the plan was read would have moved the position the plan relies on.
  for (const { change } of consumers) {
    const k = change.takeover;
    if (k) {
      const now = await consumerInfo(jsm, t.stream, k.from);
      if (
        !now ||
        now.delivered.stream_seq + 1 !== k.start.seq ||
        now.num_waiting > 0 ||
        now.num_ack_pending > 0
      ) {
        refuseTakeover(change.object, {
          ...k,
          problems: ["it moved while setup was planning (a worker is running)"],
        });
      }
    }
    const r = change.repoint;
    if (!r) continue;
    const now = await consumerInfo(jsm, t.stream, r.consumer);
    if (r.leavesOld && now && now.num_pending > 0) {
      refuseRepoint(
        change.object,
        { ...r, problems: [leftBehind(now.num_pending, r.from)] },
        stageOf(r.consumer),
      );
    }
    const up = r.upstream ? await consumerInfo(jsm, t.stream, r.upstream.consumer) : undefined;
    const upRunning =
      r.upstream && up ? upstreamProblem({ stage: r.upstream.stage, info: up }, r.from) : undefined;
    if (r.upstream && upRunning) {
      refuseRepoint(
        change.object,
        { ...r, upstream: { ...r.upstream, running: true }, problems: [upRunning] },
        stageOf(r.consumer),
      );
    }
    const giver = r.giver ? await consumerInfo(jsm, t.stream, r.giver) : undefined;
    const giverMoved =
      r.giver !== undefined &&
      (!giver ||
        giver.delivered.stream_seq + 1 !== r.start?.seq ||
        giver.num_waiting > 0 ||
        giver.num_ack_pending > 0);
    if (
      !now ||
      giverMoved ||
      now.delivered.stream_seq !== r.delivered ||
      now.num_waiting > 0 ||
      now.num_ack_pending > 0
    ) {
      refuseRepoint(
        change.object,
        { ...r, problems: ["it moved while setup was planning (a worker is running)"] },
        stageOf(r.consumer),
      );
    }
  }

  await applyStream(jsm, streamChange, desiredStream);
  for (const { change, config, existing } of consumers) {
    // An update sends metadata whole: a team's own keys on the consumer are carried over.
    const positioned: ConsumerConfig = change.start
      ? { ...config, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: change.start.seq }
      : config;
    const kept = {
      ...positioned,
      metadata: { ...ownMetadata(existing?.config.metadata), ...positioned.metadata },
    };
    await applyConsumer(
      jsm,
      t.stream,
      change,
      opts.server?.metadata ? withOrderflowMetadata(kept) : positioned,
    );
  }
  if (opts.prune) {
    for (const u of undeclared) {
      const seen = undeclaredInfos.find((ci) => ci.name === u.name) as ConsumerInfo;
      // The report above is from the plan: a worker started since would be cut off mid-order, and an
      // order it read since would be read again by the declared consumer that covers this one.
      if (!opts.force) await refuseIfMoved(jsm, t.stream, u, seen);
      await deleteConsumer(jsm, t.stream, u.object, u.name);
    }
  }
  return { changes, undeclared, applied: true };
}

async function refuseIfMoved(
  jsm: JetStreamManager,
  stream: string,
  u: UndeclaredReport,
  seen: ConsumerInfo,
): Promise<void> {
  const now = await consumerInfo(jsm, stream, u.name);
  if (!now) return;
  const moved: string[] = [];
  if (now.num_waiting !== seen.num_waiting)
    moved.push(`waiting pulls ${seen.num_waiting} -> ${now.num_waiting}`);
  if (now.num_ack_pending !== seen.num_ack_pending) {
    moved.push(`in flight ${seen.num_ack_pending} -> ${now.num_ack_pending}`);
  }
  if (now.delivered.stream_seq !== seen.delivered.stream_seq) {
    moved.push(`delivered stream sequence ${seen.delivered.stream_seq} -> ${now.delivered.stream_seq}`);
  }
  if (moved.length > 0) {
    throw new PipelineChangeRefusedError(
      u.object,
      `not deleted: it moved while setup was planning (${moved.join(", ")}): a worker is running`,
      "stop the workers reading it, then run `orderflow setup --prune` again",
    );
  }
}

async function deleteConsumer(jsm: JetStreamManager, stream: string, object: string, name: string) {
  try {
    await jsm.consumers.delete(stream, name);
  } catch (err) {
    throw new TopologyError(`cannot delete ${object}: ${errorMessage(err)}`, { cause: err });
  }
}

async function applyStream(jsm: JetStreamManager, change: TopologyChange, cfg: StreamConfig): Promise<void> {
  try {
    if (change.kind === ChangeKind.Create) await jsm.streams.add(cfg);
    else if (change.kind === ChangeKind.Update) await jsm.streams.update(cfg.name, cfg);
  } catch (err) {
    throw serverRefused(change, err);
  }
}

async function applyConsumer(
  jsm: JetStreamManager,
  stream: string,
  change: TopologyChange,
  cfg: ConsumerConfig,
): Promise<void> {
  try {
    // `add` on an existing durable updates it silently on 2.9 and fails on 2.10+, so existing
    // consumers always go through `update` with only the fields an update may carry.
    if (change.kind === ChangeKind.Create) await jsm.consumers.add(stream, cfg);
    else if (change.kind === ChangeKind.Repoint && change.repoint?.how === "recreate") {
      // Its position changes, which no update can do: it starts again where the stage it replaces stopped.
      await jsm.consumers.delete(stream, cfg.durable_name as string);
      await jsm.consumers.add(stream, cfg);
    } else if (change.kind === ChangeKind.Update || change.kind === ChangeKind.Repoint) {
      await jsm.consumers.update(stream, cfg.durable_name as string, updatableFields(cfg));
    }
  } catch (err) {
    throw serverRefused(change, err);
  }
}

/** What an update may carry; the rest of a consumer's config is fixed at creation. */
const UPDATABLE_CONSUMER_FIELDS = [
  // Both 2.9.10 and 2.10+ take a new filter in place and keep the consumer's position (checked).
  "filter_subject",
  "ack_wait",
  "max_deliver",
  "max_ack_pending",
  "max_waiting",
  "backoff",
  "num_replicas",
  "sample_freq",
  "description",
  "metadata",
] as const satisfies ReadonlyArray<keyof ConsumerUpdateConfig & keyof ConsumerConfig>;

function updatableFields(cfg: ConsumerConfig): ConsumerUpdateConfig {
  const out: Record<string, unknown> = {};
  for (const k of UPDATABLE_CONSUMER_FIELDS) if (cfg[k] !== undefined) out[k] = cfg[k];
  return out as ConsumerUpdateConfig;
}

/** The server may refuse a change our static list thought updatable (e.g. replicas on one node). */
function serverRefused(change: TopologyChange, err: unknown): Error {
  if (change.kind === ChangeKind.Update || change.kind === ChangeKind.Repoint) {
    return new UnupdatableFieldError(
      change.object,
      change.diffs.map((d) => d.field),
      `server said: ${errorMessage(err)}`,
      { cause: err },
    );
  }
  return new TopologyError(`cannot create ${change.object}: ${errorMessage(err)}`, { cause: err });
}
