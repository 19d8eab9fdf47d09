import { type ConsumerConfig, type ConsumerInfo, DeliverPolicy } from "@nats-io/jetstream";
import { PipelineChangeRefusedError } from "../common/errors.js";
import { isOrderflowMade } from "./consumer-metadata.js";
import { RESERVED_SUBJECT_TOKENS } from "./pipeline.js";

/**
 * Changing a running pipeline without losing or duplicating an order (docs/pipeline-changes.md).
 *
 * A stage whose input changes keeps its durable consumer and has it re-pointed to the new subject.
 * Where it stopped reading its old subject is a stream sequence (its `delivered.stream_seq`, with
 * nothing unacknowledged below it once its workers are stopped), and that sequence is what keeps the
 * change exact:
 * - a stage inserted before it gets a new consumer on the old subject starting right after that
 *   sequence, so every order it had not read yet goes through the new stage, and none twice; the
 *   re-pointed consumer keeps its position and reads the new stage's output from there on;
 * - a stage removed before it hands over: the re-pointed consumer is recreated on the removed stage's
 *   input, starting right after where the removed stage's consumer stopped.
 * Both need the consumer idle (no waiting pull: its workers are stopped; nothing in flight), which is
 * what `setup` checks before changing anything.
 */

/** Where a consumer's reading starts: a stream sequence; 1 reads everything. */
export interface StartAt {
  /** The stream sequence of the first message it may read. */
  seq: number;
  /** Why there, for the plan: "where DISPATCH stopped reading ORDERS.processed". */
  why: string;
}

/** How a consumer whose filter changes is moved to its new subject. */
export interface Repoint {
  consumer: string;
  from: string;
  to: string;
  /** Update in place (keeps its position), or delete and create again starting at `start`. */
  how: "update" | "recreate";
  start?: StartAt;
  /** The undeclared consumer whose position a recreate takes over. */
  giver?: string;
  /** Its `delivered.stream_seq` when planned; the apply step checks it has not moved since. */
  delivered: number;
  /**
   * An in-place re-point that no created stage takes the old subject over from: whatever is unread on
   * it (or still written to it) would be left behind, so the apply step checks it is empty.
   */
  leavesOld?: boolean;
  /**
   * With `leavesOld`: the declared stage that writes the new subject, whose output changed (its old
   * workers may still write the old subject), its consumer, and whether waiting pulls on it say its
   * workers run.
   */
  upstream?: { stage: string; consumer: string; running: boolean };
  /** Why it cannot be done now, one sentence each; empty when it can. */
  problems: string[];
}

/** A durable pull consumer on the stream that no declared stage reads through. */
export interface UndeclaredConsumer {
  name: string;
  filter: string;
  /** Messages on its subject it has not read yet. */
  pending: number;
  /** Delivered to a worker, not acknowledged yet. */
  ackPending: number;
  /** Pull requests waiting: its workers are running. */
  waiting: number;
  /** A declared consumer that reads its subject from where it stopped (or before): its pending are not lost. */
  coveredBy?: string;
}

const isPull = (c: ConsumerConfig): boolean => !c.deliver_subject;

/** The step token of `<prefix>.<token>`, or undefined for any other subject (or a wildcard). */
export function stepToken(filter: string | undefined, subjectPrefix: string): string | undefined {
  if (!filter?.startsWith(`${subjectPrefix}.`)) return undefined;
  const token = filter.slice(subjectPrefix.length + 1);
  if (token.length === 0 || token.includes(".") || token === "*" || token === ">") return undefined;
  return token;
}

/** Durable pull consumers on a stage subject (`<prefix>.<token>`, not dead letters or replay markers). */
function isStageConsumer(c: ConsumerConfig, subjectPrefix: string): boolean {
  const token = stepToken(c.filter_subject, subjectPrefix);
  return (
    Boolean(c.durable_name) && isPull(c) && token !== undefined && !RESERVED_SUBJECT_TOKENS.includes(token)
  );
}

/**
 * Which consumers count as orderflow's stage consumers (docs/pipeline-changes.md, "Whose consumers"):
 * only those may be reported, pruned or taken over from. A team's own consumer on a step subject
 * (an audit reader of `received`) is none of orderflow's business.
 */
export interface OwnershipRule {
  /** The server keeps consumer metadata (2.10+): orderflow's consumers carry `orderflow.version`. */
  metadata: boolean;
  /** The declared pipeline's step tokens. */
  steps: readonly string[];
  /**
   * `--prune --force` on 2.10+: also an unmarked consumer on a declared step (one the seed's nats
   * CLI commands made), as on 2.9.
   */
  force?: boolean;
}

function isOrderflows(c: ConsumerConfig, subjectPrefix: string, rule: OwnershipRule): boolean {
  if (rule.metadata && isOrderflowMade(c)) return true;
  // 2.9 keeps no metadata: a consumer on a step of the declared pipeline is taken for a stage's.
  if (rule.metadata && !rule.force) return false;
  return rule.steps.includes(stepToken(c.filter_subject, subjectPrefix) ?? "");
}

/**
 * The first stream sequence a consumer reads (1: everything), as far as its config says; undefined
 * where it depends on when it was made (new, last, by time).
 */
function startOf(c: ConsumerConfig): number | undefined {
  if (c.deliver_policy === DeliverPolicy.All) return 1;
  if (c.deliver_policy === DeliverPolicy.StartSequence) return c.opt_start_seq ?? 1;
  return undefined;
}

/** Stage consumers on the stream that are not declared (the monitor and ephemeral readers are not stage consumers). */
export function findUndeclared(
  existing: readonly ConsumerInfo[],
  declared: readonly string[],
  subjectPrefix: string,
  rule: OwnershipRule,
): ConsumerInfo[] {
  return existing.filter(
    (ci) =>
      !declared.includes(ci.name) &&
      isStageConsumer(ci.config, subjectPrefix) &&
      isOrderflows(ci.config, subjectPrefix, rule),
  );
}

/**
 * Durable pull consumers on `subject` that are not orderflow's (a team's own reader, or one the
 * seed's nats CLI commands made, on 2.10+): a consumer created there does not take over from them,
 * and the plan says so.
 */
export function othersReading(
  existing: readonly ConsumerInfo[],
  declared: readonly string[],
  subjectPrefix: string,
  rule: OwnershipRule,
  subject: string,
): string[] {
  return existing
    .filter(
      (ci) =>
        !declared.includes(ci.name) &&
        ci.config.filter_subject === subject &&
        isStageConsumer(ci.config, subjectPrefix) &&
        !isOrderflows(ci.config, subjectPrefix, rule),
    )
    .map((ci) => ci.name);
}

function idleProblems(ci: ConsumerInfo, stage: string): string[] {
  const out: string[] = [];
  if (ci.num_waiting > 0) {
    out.push(`${ci.num_waiting} pull request(s) wait on it: the ${stage} workers are running`);
  }
  if (ci.num_ack_pending > 0) out.push(`${ci.num_ack_pending} order(s) are in flight on it`);
  return out;
}

/** The declared stage that writes a re-pointed consumer's new subject, and its consumer as it is now. */
export interface Upstream {
  stage: string;
  info: ConsumerInfo;
}

/** Why the upstream stage's running workers stop an in-place re-point from `from`. */
export function upstreamProblem(up: Upstream, from: string): string | undefined {
  if (up.info.num_waiting === 0) return undefined;
  return `the ${up.stage} workers are running (${up.info.num_waiting} pull request(s) wait on ${up.info.name}) and may still write ${from}, which no declared stage reads any more`;
}

/**
 * How to move consumer `x` (stage `stage`) from its filter to `desired`'s, given the consumers this run
 * creates and the undeclared ones; `startOfCreated` receives the start of a created consumer that
 * takes over `x`'s old subject. `upstream` is the existing declared stage writing the new subject.
 */
export function planRepoint(
  x: ConsumerInfo,
  desired: ConsumerConfig,
  stage: string,
  created: readonly ConsumerConfig[],
  undeclared: readonly ConsumerInfo[],
  startOfCreated: (consumer: string, start: StartAt) => void,
  upstream?: Upstream,
): Repoint {
  const from = x.config.filter_subject ?? "";
  const to = desired.filter_subject ?? "";
  const delivered = x.delivered.stream_seq;
  const problems = idleProblems(x, stage);
  const takers = created.filter((c) => c.filter_subject === from && isPull(c));
  const givers = undeclared.filter((c) => c.config.filter_subject === to);
  for (const c of takers) {
    startOfCreated(c.durable_name as string, {
      seq: delivered + 1,
      why: `where ${x.name} stopped reading ${from}`,
    });
  }
  if (givers.length === 0) {
    if (takers.length > 0) return { consumer: x.name, from, to, how: "update", delivered, problems };
    // Nothing on the old subject may be left behind, nor written to it later: no new stage takes it
    // over. The stage now writing the new subject wrote the old one before (its output was renamed):
    // its old workers keep writing there until they are stopped.
    if (x.num_pending > 0) problems.push(leftBehind(x.num_pending, from));
    const up = upstream ? upstreamProblem(upstream, from) : undefined;
    if (up) problems.push(up);
    return {
      consumer: x.name,
      from,
      to,
      how: "update",
      delivered,
      leavesOld: true,
      ...(upstream
        ? { upstream: { stage: upstream.stage, consumer: upstream.info.name, running: up !== undefined } }
        : {}),
      problems,
    };
  }
  const giver = givers[0] as ConsumerInfo;
  if (givers.length > 1) {
    problems.push(`${givers.map((g) => g.name).join(" and ")} both read ${to}; delete all but one first`);
  }
  if (takers.length > 0) problems.push(`it cannot hand ${from} over and take ${to} over in one step`);
  if (x.num_pending > 0) {
    problems.push(
      `${x.num_pending} order(s) on ${from} are unread: run its workers until it has none, stop them, then run setup`,
    );
  }
  problems.push(...idleProblems(giver, `${giver.name} (undeclared)`));
  return {
    consumer: x.name,
    from,
    to,
    how: "recreate",
    giver: giver.name,
    start: { seq: giver.delivered.stream_seq + 1, why: `where ${giver.name} stopped reading ${to}` },
    delivered,
    problems,
  };
}

/** A new consumer taking a subject over from an undeclared one: a stage's consumer renamed or replaced. */
export interface Takeover {
  /** The undeclared consumer it takes over from. */
  from: string;
  subject: string;
  start: StartAt;
  /** Why it cannot be done now; empty when it can. */
  problems: string[];
}

/**
 * A consumer about to be created on a subject an undeclared consumer reads starts where that one
 * stopped, not at the beginning: else renaming a stage's consumer would hand it every stored order again.
 */
export function planTakeover(
  desired: ConsumerConfig,
  undeclared: readonly ConsumerInfo[],
): Takeover | undefined {
  const subject = desired.filter_subject ?? "";
  if (!isPull(desired) || desired.deliver_policy !== DeliverPolicy.All) return undefined;
  const givers = undeclared.filter((c) => c.config.filter_subject === subject);
  const giver = givers[0];
  if (!giver) return undefined;
  const problems = idleProblems(giver, `${giver.name} (undeclared)`);
  if (givers.length > 1) {
    problems.push(
      `${givers.map((g) => g.name).join(" and ")} both read ${subject}; delete all but one first`,
    );
  }
  return {
    from: giver.name,
    subject,
    start: { seq: giver.delivered.stream_seq + 1, why: `where ${giver.name} stopped reading ${subject}` },
    problems,
  };
}

export function refuseTakeover(object: string, t: Takeover): never {
  throw new PipelineChangeRefusedError(
    object,
    `cannot take ${t.subject} over from ${t.from} now: ${t.problems.join("; ")}`,
    `stop the workers reading ${t.from}, wait for its in-flight orders, then run \`orderflow setup\` again; see docs/pipeline-changes.md`,
  );
}

/** The start a consumer will have after this run, by name: what decides whether an undeclared one is covered. */
export type PlannedStarts = ReadonlyMap<string, { filter: string; start: number | undefined }>;

export function plannedStart(
  c: ConsumerConfig,
  start?: StartAt,
): { filter: string; start: number | undefined } {
  return { filter: c.filter_subject ?? "", start: start?.seq ?? startOf(c) };
}

/** An undeclared consumer as the plan reports it, with the declared consumer (if any) that reads its orders. */
export function describeUndeclared(ci: ConsumerInfo, planned: PlannedStarts): UndeclaredConsumer {
  const filter = ci.config.filter_subject ?? "";
  let coveredBy: string | undefined;
  for (const [name, p] of planned) {
    if (p.filter === filter && p.start !== undefined && p.start <= ci.delivered.stream_seq + 1)
      coveredBy = name;
  }
  return {
    name: ci.name,
    filter,
    pending: ci.num_pending,
    ackPending: ci.num_ack_pending,
    waiting: ci.num_waiting,
    ...(coveredBy ? { coveredBy } : {}),
  };
}

/** Why deleting it now would lose orders or cut off running workers; empty when it would not. */
export function pruneProblems(u: UndeclaredConsumer): string[] {
  const out: string[] = [];
  if (u.waiting > 0) out.push(`${u.waiting} pull request(s) wait on it (its workers are running)`);
  if (u.ackPending > 0) out.push(`${u.ackPending} order(s) are in flight on it`);
  if (u.pending > 0 && !u.coveredBy) {
    out.push(`${u.pending} order(s) on ${u.filter} are pending on it and no declared stage reads them`);
  }
  return out;
}

export function leftBehind(pending: number, from: string): string {
  return `${pending} order(s) on ${from} are unread and no declared stage reads ${from}`;
}

export function refuseRepoint(object: string, r: Repoint, stage: string): never {
  const hint = r.upstream?.running
    ? `stop the ${r.upstream.stage} workers first (they may still write ${r.from}), let the ${stage} workers read what is left on ${r.from} and stop them, then run \`orderflow setup\` again and start both with the new pipeline; see docs/pipeline-changes.md`
    : `stop the ${stage} workers (they read ${r.consumer}), wait for its in-flight orders, then run \`orderflow setup\` again and start them; see docs/pipeline-changes.md`;
  throw new PipelineChangeRefusedError(
    object,
    `cannot re-point from ${r.from} to ${r.to} now: ${r.problems.join("; ")}`,
    hint,
  );
}

export function refusePrune(object: string, u: UndeclaredConsumer): never {
  throw new PipelineChangeRefusedError(
    object,
    `not deleted: ${pruneProblems(u).join("; ")}`,
    "stop its workers and let the orders drain, or add --force to delete it anyway (its pending orders are then not handled)",
  );
}
