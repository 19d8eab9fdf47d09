/**
 * The order flow as data: the stages in order, each reading one subject through its own durable
 * pull consumer and writing the next. The seed's flow (received → processor → processed →
 * dispatcher → completed) is the default; a pipeline file (docs/pipeline.md) declares another.
 *
 * Subjects are named by their last token below the stream's subject prefix (`received`,
 * `validated`, …): the stream takes `<prefix>.*`, so every step of an order is one token there.
 */

/**
 * Stage tuning a pipeline file may set per stage; what it leaves out comes from the command's flags
 * and their defaults (stages/worker-options.ts). Milliseconds and counts.
 */
export interface StageTuningSpec {
  /** Messages per pull request. */
  batch?: number;
  /** Most orders held at once by one worker. */
  maxInFlight?: number;
  /** Handler failures before an order is dead-lettered. */
  maxAttempts?: number;
  /** Async handler timeout. */
  handlerTimeoutMs?: number;
  /** Most handler calls at once per worker; 0 for no limit but maxInFlight. */
  concurrency?: number;
  /** Most handler starts per window per worker. */
  rateLimit?: { limit: number; windowMs: number };
}

/** One stage of the pipeline. */
export interface StageSpec {
  /** Name in logs, metrics, dead letters and `orderflow worker <name>`: `processor`, `validator`, … */
  readonly name: string;
  /** Durable pull consumer it reads: `NEW`, `VALIDATE`, … */
  readonly consumer: string;
  /** Subject token it reads: `received` reads `<prefix>.received`. */
  readonly input: string;
  /** Subject token it writes: the next stage's input, or the last step (`completed`). */
  readonly output: string;
  /** The consumer's ack wait. Default 30,000 ms, the seed's. */
  readonly ackWaitMs: number;
  /** The consumer's max ack pending. Default 1,000, the seed's. */
  readonly maxAckPending: number;
  /** Handler module (absolute path) replacing the built-in transformation; undefined: built in. */
  readonly handler?: string;
  /** Tuning from the pipeline file; flags given on the command line override it. */
  readonly tuning: Readonly<StageTuningSpec>;
}

/** Subject tokens the pipeline keeps for itself: dead letters and replay markers. */
export const RESERVED_SUBJECT_TOKENS: readonly string[] = ["failed", "replayed"];

/** The seed's two stages, consumer names as given (NEW and DISPATCH unless renamed). */
export function seedStages(newConsumer: string, dispatchConsumer: string): readonly StageSpec[] {
  return Object.freeze([
    Object.freeze({
      name: "processor",
      consumer: newConsumer,
      input: "received",
      output: "processed",
      ackWaitMs: 30_000,
      maxAckPending: 1000,
      tuning: Object.freeze({}),
    }),
    Object.freeze({
      name: "dispatcher",
      consumer: dispatchConsumer,
      input: "processed",
      output: "completed",
      ackWaitMs: 30_000,
      maxAckPending: 1000,
      tuning: Object.freeze({}),
    }),
  ]);
}

/**
 * Every step an order goes through, in order: the first stage's input, then each stage's output
 * (`received`, `processed`, `completed` for the seed).
 */
export function pipelineSteps(stages: readonly StageSpec[]): string[] {
  const first = stages[0];
  return first === undefined ? [] : [first.input, ...stages.map((s) => s.output)];
}

/** The stage of that name, or undefined. */
export function stageNamed(stages: readonly StageSpec[], name: string): StageSpec | undefined {
  return stages.find((s) => s.name === name);
}

/**
 * What is wrong with a stage list as a pipeline, one sentence each; empty when it is one. A
 * pipeline is a chain: at least one stage, each reading what the one before wrote, names and
 * consumers unique, no step twice (a cycle would complete an order forever).
 */
export function pipelineProblems(stages: readonly StageSpec[]): string[] {
  const problems: string[] = [];
  if (stages.length === 0) problems.push("stages: a pipeline needs at least one stage");
  const names = new Set<string>();
  const consumers = new Set<string>();
  for (const [i, s] of stages.entries()) {
    if (names.has(s.name)) problems.push(`stages[${i}].name: "${s.name}" is declared twice`);
    names.add(s.name);
    if (consumers.has(s.consumer))
      problems.push(`stages[${i}].consumer: "${s.consumer}" is read by two stages`);
    consumers.add(s.consumer);
    const before = stages[i - 1];
    if (before && s.input !== before.output) {
      problems.push(
        `stages[${i}].input: "${s.input}" is not what stage "${before.name}" writes ("${before.output}")`,
      );
    }
  }
  const steps = pipelineSteps(stages);
  const seen = new Set<string>();
  for (const step of steps) {
    if (seen.has(step)) problems.push(`stages: the step "${step}" comes twice; a pipeline may not loop`);
    seen.add(step);
    if (RESERVED_SUBJECT_TOKENS.includes(step)) {
      problems.push(
        `stages: "${step}" is kept for ${step === "failed" ? "dead letters" : "replay markers"}; name the step otherwise`,
      );
    }
  }
  return problems;
}
