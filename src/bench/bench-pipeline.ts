/**
 * Which worker processes the bench starts, and with which flags: the seed's processors and
 * dispatchers (by count, with their handler modules), or, with a pipeline file, one
 * `orderflow worker <stage> --config <file>` per declared stage.
 */
import { basename, resolve } from "node:path";
import { UsageError } from "../common/errors.js";
import { seedStages } from "../topology/pipeline.js";
import { stagesOf, stepsOf, type TopologyOptions } from "../topology/spec.js";
import type { BenchOptions } from "./bench-options.js";
import type { BenchPipeline } from "./stats.js";
import type { BenchProcessKind } from "./worker-processes.js";

/** The pipeline file the bench runs, and which worker tuning flags the bench itself was given. */
export interface BenchPipelineFile {
  /** The file (`--config`, ORDERFLOW_CONFIG, or found in the working directory). */
  file: string;
  /**
   * --batch / --max-in-flight given to the bench (command line or environment): only those are
   * passed on, so a stage's own tuning in the file stands otherwise.
   */
  given: { batch: boolean; maxInFlight: boolean };
}

/** One worker process to start: what it runs and its flags after `-s <server>`. */
export interface WorkerLaunch {
  kind: BenchProcessKind;
  args: string[];
}

/**
 * What `--no-rate-limits` passes as every stage's `--rate-limit`: 0, no limit. A flag given
 * overrides the pipeline file's setting, so the file's limits are lifted and no start gate runs.
 */
export const UNLIMITED_START_RATE = "0";

/** Whether a topology's stages are the seed's two, in shape (names, consumers, subjects). */
export function isSeedPipeline(t: TopologyOptions): boolean {
  const seed = seedStages(t.newConsumer, t.dispatchConsumer);
  const stages = stagesOf(t);
  return (
    stages.length === seed.length &&
    stages.every((s, i) => {
      const x = seed[i];
      return (
        x !== undefined &&
        s.name === x.name &&
        s.consumer === x.consumer &&
        s.input === x.input &&
        s.output === x.output
      );
    })
  );
}

/**
 * What in the bench's options a pipeline file rules out, as one usage error; undefined when the
 * options fit. The seed's flags name its two stages; the file names every stage's handler.
 */
export function pipelineOptionsProblem(
  o: BenchOptions,
  t: TopologyOptions,
  file: string,
  given: { processors: boolean; dispatchers: boolean },
): UsageError | undefined {
  const name = basename(file);
  if (o.compareSeed > 0 && !isSeedPipeline(t)) {
    const stages = stagesOf(t).map((s) => s.name);
    return new UsageError(
      `--compare-seed times the seed's two Go workers, and ${name} declares ${stages.length} stages (${stages.join(", ")})`,
      { hint: "run --compare-seed without a pipeline file" },
    );
  }
  if (o.processorHandler || o.dispatcherHandler || o.compareBuiltIn) {
    const flag = o.processorHandler
      ? "--processor-handler"
      : o.dispatcherHandler
        ? "--dispatcher-handler"
        : "--compare-built-in";
    return new UsageError(`${flag} is for the seed's pipeline; ${name} names each stage's handler`, {
      hint: `set the stage's handler in ${name}, or leave out the pipeline file`,
    });
  }
  if (given.processors || given.dispatchers) {
    return new UsageError(
      `--${given.processors ? "processors" : "dispatchers"} counts the seed's workers; with ${name} the bench runs one worker process per declared stage`,
      { hint: "leave it out, or leave out the pipeline file" },
    );
  }
  return undefined;
}

/** The seed's worker processes: `o.processors` processors and `o.dispatchers` dispatchers. */
export function seedWorkerLaunches(
  o: BenchOptions,
  stream: string,
  handlers: Pick<BenchOptions, "processorHandler" | "dispatcherHandler">,
): WorkerLaunch[] {
  const args = ["--batch", String(o.batch), "--max-in-flight", String(o.maxInFlight), "--stream", stream];
  if (!o.rateLimits) args.push("--rate-limit", UNLIMITED_START_RATE);
  const withHandler = (file: string | undefined) => (file ? [...args, "--handler", resolve(file)] : args);
  const launches: WorkerLaunch[] = [];
  for (let i = 0; i < o.processors; i++)
    launches.push({ kind: { stage: "processor" }, args: withHandler(handlers.processorHandler) });
  for (let i = 0; i < o.dispatchers; i++)
    launches.push({ kind: { stage: "dispatcher" }, args: withHandler(handlers.dispatcherHandler) });
  return launches;
}

/** One worker process per declared stage, in order, each reading the pipeline file. */
export function stageWorkerLaunches(
  t: TopologyOptions,
  o: BenchOptions,
  p: BenchPipelineFile,
): WorkerLaunch[] {
  const args = ["--config", resolve(p.file), "--stream", t.stream];
  if (p.given.batch) args.push("--batch", String(o.batch));
  if (p.given.maxInFlight) args.push("--max-in-flight", String(o.maxInFlight));
  if (!o.rateLimits) args.push("--rate-limit", UNLIMITED_START_RATE);
  return stagesOf(t).map((s) => ({ kind: { stage: s.name }, args }));
}

/** The pipeline as the report shows it: the file's name, each stage's handler and tuning, the steps. */
export function benchPipeline(t: TopologyOptions, o: BenchOptions, p: BenchPipelineFile): BenchPipeline {
  return {
    file: basename(p.file),
    stages: stagesOf(t).map((s) => {
      const rateLimit = o.rateLimits ? s.tuning.rateLimit : undefined;
      return {
        name: s.name,
        ...(s.handler ? { handler: basename(s.handler) } : {}),
        batch: p.given.batch ? o.batch : (s.tuning.batch ?? o.batch),
        maxInFlight: p.given.maxInFlight ? o.maxInFlight : (s.tuning.maxInFlight ?? o.maxInFlight),
        ...(rateLimit
          ? { rateLimit: `${rateLimit.limit}/${rateLimit.windowMs === 60_000 ? "m" : "s"}` }
          : {}),
      };
    }),
    steps: stepsOf(t),
  };
}
