import type {
  ConsumerConfig,
  ConsumerUpdateConfig,
  JetStreamManager,
  StreamConfig,
} from "@nats-io/jetstream";
import { errorMessage, TopologyError, UnupdatableFieldError } from "../common/errors.js";
import type { ServerFeatures } from "../common/server-features.js";
import { ownMetadata, withOrderflowMetadata } from "./consumer-metadata.js";
import { diffConsumer, diffStream, type FieldDiff } from "./diff.js";
import { consumerInfo, findStream } from "./read.js";
import { consumerConfigs, streamConfig, type TopologyOptions } from "./spec.js";

export const ChangeKind = { Create: "create", Update: "update", UpToDate: "up-to-date" } as const;
export type ChangeKind = (typeof ChangeKind)[keyof typeof ChangeKind];

export interface TopologyChange {
  /** `stream ORDERS` or `consumer ORDERS > NEW`, as the nats CLI names them. */
  object: string;
  kind: ChangeKind;
  diffs: FieldDiff[];
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
}

export interface TopologyPlan {
  changes: TopologyChange[];
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

  const consumers: Array<{ change: TopologyChange; config: ConsumerConfig; existing?: ConsumerConfig }> = [];
  for (const wanted of opts.consumers ?? consumerConfigs(t)) {
    const name = wanted.durable_name as string;
    const object = `consumer ${t.stream} > ${name}`;
    const info = stream ? await consumerInfo(jsm, t.stream, name) : undefined;
    // A consumer's 0 means "as many as the stream" (diffConsumer compares it so).
    const config = keep(wanted, info && (info.config.num_replicas || stream?.config.num_replicas));
    const diffs = info ? diffConsumer(info, config, stream?.config.num_replicas ?? t.replicas) : [];
    const kind = !info ? ChangeKind.Create : diffs.length > 0 ? ChangeKind.Update : ChangeKind.UpToDate;
    const change = { object, kind, diffs };
    changes.push(change);
    consumers.push({ change, config, existing: info?.config });
  }

  // Refuse before touching anything, so a failed setup never leaves a half-applied topology.
  for (const change of changes) refuseFixed(change);
  if (opts.dryRun || changes.every((c) => c.kind === ChangeKind.UpToDate)) {
    return { changes, applied: false };
  }

  await applyStream(jsm, streamChange, desiredStream);
  for (const { change, config, existing } of consumers) {
    // An update sends metadata whole: a team's own keys on the consumer are carried over.
    const kept = { ...config, metadata: { ...ownMetadata(existing?.metadata), ...config.metadata } };
    await applyConsumer(jsm, t.stream, change, opts.server?.metadata ? withOrderflowMetadata(kept) : config);
  }
  return { changes, applied: true };
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
    else if (change.kind === ChangeKind.Update) {
      await jsm.consumers.update(stream, cfg.durable_name as string, updatableFields(cfg));
    }
  } catch (err) {
    throw serverRefused(change, err);
  }
}

/** What an update may carry; the rest of a consumer's config is fixed at creation. */
const UPDATABLE_CONSUMER_FIELDS = [
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
  if (change.kind === ChangeKind.Update) {
    return new UnupdatableFieldError(
      change.object,
      change.diffs.map((d) => d.field),
      `server said: ${errorMessage(err)}`,
      { cause: err },
    );
  }
  return new TopologyError(`cannot create ${change.object}: ${errorMessage(err)}`, { cause: err });
}
