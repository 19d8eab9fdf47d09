import { type ConsumerConfig, type ConsumerInfo, DeliverPolicy, type StreamConfig } from "@nats-io/jetstream";
import { ownMetadata } from "./consumer-metadata.js";

/** One field of an existing stream or consumer that is not what the topology wants. */
export interface FieldDiff {
  field: string;
  actual: unknown;
  desired: unknown;
  /** False where nats-server refuses to change the field in place (checked on 2.9.10). */
  updatable: boolean;
}

/** Fields the server will not change on an existing stream. */
const STREAM_FIXED = new Set(["name", "storage", "retention", "max_consumers"]);
/** Fields the server will not change on an existing consumer. */
const CONSUMER_FIXED = new Set([
  "durable_name",
  "deliver_policy",
  "ack_policy",
  "replay_policy",
  "opt_start_seq",
  "opt_start_time",
  "filter_subject",
  "deliver_group",
  "flow_control",
  "idle_heartbeat",
  "headers_only",
  "deliver_subject",
]);

/**
 * The server omits false, zero and empty values from the configs it returns; treat them the same as
 * absent so a topology made by the nats CLI compares equal to ours.
 */
function normalize(v: unknown): unknown {
  if (v === undefined || v === null || v === false || v === 0 || v === "") return undefined;
  if (Array.isArray(v)) return v.length === 0 ? undefined : v;
  return v;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(normalize(a)) === JSON.stringify(normalize(b));
}

function diffFields(
  actual: Record<string, unknown>,
  desired: Record<string, unknown>,
  fixed: ReadonlySet<string>,
): FieldDiff[] {
  const out: FieldDiff[] = [];
  for (const [field, want] of Object.entries(desired)) {
    if (!same(actual[field], want)) {
      out.push({ field, actual: actual[field], desired: want, updatable: !fixed.has(field) });
    }
  }
  return out;
}

export function diffStream(actual: StreamConfig, desired: StreamConfig): FieldDiff[] {
  return diffFields(
    actual as unknown as Record<string, unknown>,
    desired as unknown as Record<string, unknown>,
    STREAM_FIXED,
  );
}

/**
 * A consumer's `num_replicas` of 0 means "as many as the stream", so it is compared against the
 * stream's replica count. `positionedByOrderflow`: orderflow created it (so a start sequence it has
 * was chosen by a pipeline change, docs/pipeline-changes.md).
 */
export function diffConsumer(
  actual: ConsumerInfo,
  desired: ConsumerConfig,
  streamReplicas: number,
  positionedByOrderflow = false,
): FieldDiff[] {
  const cfg = { ...(actual.config as unknown as Record<string, unknown>) };
  if (!cfg.num_replicas) cfg.num_replicas = streamReplicas;
  // The server's own `_nats.*` keys (2.11+) are never drift; metadata is compared only where the
  // desired config names some (orderflow's own keys are written on apply, not wanted as settings).
  cfg.metadata = ownMetadata(actual.config.metadata);
  // A stage consumer setup created at a stream sequence (docs/pipeline-changes.md: a stage put into a
  // running pipeline starts where the stage it takes over from stopped) reads everything from there
  // on: that is what "all" asks of it, and the start is fixed at creation, so it is not drift. Only
  // one orderflow created so (`positionedByOrderflow`): a start set by hand is drift, as it always was.
  if (
    positionedByOrderflow &&
    cfg.deliver_policy === DeliverPolicy.StartSequence &&
    cfg.opt_start_seq &&
    desired.deliver_policy === DeliverPolicy.All
  ) {
    cfg.deliver_policy = DeliverPolicy.All;
  }
  // A durable's "pull or push" is whether it has a deliver subject; changing it is never in place.
  return diffFields(cfg, desired as unknown as Record<string, unknown>, CONSUMER_FIXED);
}

/** Human-readable value for plans and diffs: durations in ns print as seconds. */
export function showValue(field: string, v: unknown): string {
  if (v === undefined || v === null) return "(unset)";
  if (typeof v === "number" && /(_wait|_window|max_age|idle_heartbeat)$/.test(field)) {
    return v === 0 ? "0" : `${v / 1e9}s`;
  }
  return typeof v === "string" ? v : JSON.stringify(v);
}
