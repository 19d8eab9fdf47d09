import { type Command, Option } from "commander";
import { durationFlag } from "../common/duration.js";
import { UsageError } from "../common/errors.js";
import { LateRedeliveries } from "../stages/output-ledger.js";
import { parseStartRate, type StartRate } from "../stages/start-gate.js";
import { DEFAULT_STAGE_WORKER_OPTIONS as D, type StageTuning } from "../stages/worker-options.js";
import type { StageSpec } from "../topology/pipeline.js";
import { intFlag } from "./context.js";
import { addOptionTable, type OptionTable, readGivenOptionTable, readOptionTable } from "./option-table.js";

/** Longest --handler-timeout: +WPI keeps the input alive, but a worker stuck for an hour is a bug. */
const MAX_HANDLER_TIMEOUT_MS = 3_600_000;

/** The stage flags, by the StageWorkerOptions key each one fills (fresh Options per command). */
export function stageOptionTable(): Required<OptionTable<StageTuning>> {
  return {
    batch: new Option("--batch <n>", "messages per pull request")
      .argParser(intFlag("batch", 1, 10_000))
      .env("ORDERFLOW_BATCH")
      .default(D.batch),
    maxInFlight: new Option(
      "--max-in-flight <n>",
      "most orders in progress per stage (<= the consumer's max ack pending)",
    )
      .argParser(intFlag("max-in-flight", 1, 100_000))
      .env("ORDERFLOW_MAX_IN_FLIGHT")
      .default(D.maxInFlight),
    maxAttempts: new Option(
      "--max-attempts <n>",
      "handler failures (errors, timeouts) before an order is dead-lettered; redeliveries for other reasons do not count",
    )
      .argParser(intFlag("max-attempts", 1, 1_000))
      .env("ORDERFLOW_MAX_ATTEMPTS")
      .default(D.maxAttempts),
    handlerTimeoutMs: new Option(
      "--handler-timeout <duration>",
      "an async handler still running then is aborted and retried",
    )
      .argParser(handlerTimeoutFlag)
      .env("ORDERFLOW_HANDLER_TIMEOUT")
      .default(D.handlerTimeoutMs, "30s"),
    concurrency: new Option("--concurrency <n>", "most handler calls at once; 0 = as many as --max-in-flight")
      .argParser(intFlag("concurrency", 0, 100_000))
      .env("ORDERFLOW_CONCURRENCY")
      .default(D.concurrency),
    lateRedeliveries: new Option(
      "--late-redeliveries <mode>",
      "a redelivery past the duplicate window: verify (ask the order index, hold while it cannot tell) or publish",
    )
      .choices(Object.values(LateRedeliveries))
      .env("ORDERFLOW_LATE_REDELIVERIES")
      .default(D.lateRedeliveries),
    rateLimit: new Option(
      "--rate-limit <n/s>",
      "most handler starts per second (or n/m per minute); default no limit",
    )
      .argParser(rateLimitFlag)
      .env("ORDERFLOW_RATE_LIMIT"),
    drainTimeoutMs: new Option(
      "--drain-timeout <duration>",
      "on SIGINT/SIGTERM, how long running handlers may finish before they are aborted and given back",
    )
      .argParser((v) => Math.round(durationFlag("drain-timeout")(v)))
      .env("ORDERFLOW_DRAIN_TIMEOUT")
      .default(D.drainTimeoutMs, "10s"),
  };
}

function handlerTimeoutFlag(v: string): number {
  const n = Math.round(durationFlag("handler-timeout", { min: 1 })(v));
  if (n > MAX_HANDLER_TIMEOUT_MS) {
    throw new UsageError(`--handler-timeout must be at most 1h, got "${v}"`, {
      hint: "a handler that needs longer should hand the work to a job queue and return",
    });
  }
  return n;
}

function rateLimitFlag(v: string): StartRate | undefined {
  const rate = parseStartRate(v);
  if (!rate) {
    throw new UsageError(`--rate-limit: "${v}" is not a rate`, {
      hint: "use starts per second or per minute, e.g. 50/s or 600/m (0 = no limit)",
    });
  }
  return rate.limit === 0 ? undefined : rate;
}

/** Adds the stage flags to a command (in the chain: `withStageFlags(new Command(…)).option(…)`). */
export function withStageFlags(cmd: Command): Command {
  return addOptionTable(cmd, stageOptionTable());
}

/** The stage tuning a command's flags say (commander's values, by attribute name). */
export function readStageFlags(values: Record<string, unknown>): Partial<StageTuning> {
  return readOptionTable<StageTuning>(stageOptionTable(), values);
}

/**
 * One declared stage's tuning: the defaults, then what its pipeline file sets, then the flags given
 * on the command line or in the environment (a flag left at its default does not undo the file).
 */
export function stageTuningFor(cmd: Command, spec: StageSpec | undefined): Partial<StageTuning> {
  const table = stageOptionTable();
  return {
    ...readOptionTable<StageTuning>(table, cmd.opts()),
    ...(spec?.tuning ?? {}),
    ...readGivenOptionTable<StageTuning>(table, cmd),
  };
}
