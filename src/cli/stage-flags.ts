import { type Command, Option } from "commander";
import { durationFlag } from "../common/duration.js";
import { UsageError } from "../common/errors.js";
import { LateRedeliveries } from "../stages/output-ledger.js";
import { parseStartRate, type StartRate } from "../stages/start-gate.js";
import { DEFAULT_STAGE_WORKER_OPTIONS as D } from "../stages/worker-options.js";
import { intFlag } from "./context.js";

/** The stage-worker tuning flags, shared by `orderflow worker` and `orderflow up`. */
export interface StageFlags {
  batch: number;
  maxInFlight: number;
  maxAttempts: number;
  handlerTimeout: number;
  concurrency: number;
  lateRedeliveries: LateRedeliveries;
  rateLimit?: StartRate;
  drainTimeout: number;
}

/** Longest --handler-timeout: +WPI keeps the input alive, but a worker stuck for an hour is a bug. */
const MAX_HANDLER_TIMEOUT_MS = 3_600_000;

export function stageFlagOptions(): Option[] {
  return [
    new Option("--batch <n>", "messages per pull request")
      .argParser(intFlag("batch", 1, 10_000))
      .env("ORDERFLOW_BATCH")
      .default(D.batch),
    new Option("--max-in-flight <n>", "most orders in progress per stage (<= the consumer's max ack pending)")
      .argParser(intFlag("max-in-flight", 1, 100_000))
      .env("ORDERFLOW_MAX_IN_FLIGHT")
      .default(D.maxInFlight),
    new Option("--max-attempts <n>", "deliveries before a failing order is dead-lettered")
      .argParser(intFlag("max-attempts", 1, 1_000))
      .env("ORDERFLOW_MAX_ATTEMPTS")
      .default(D.maxAttempts),
    new Option("--handler-timeout <duration>", "an async handler still running then is aborted and retried")
      .argParser(handlerTimeoutFlag)
      .env("ORDERFLOW_HANDLER_TIMEOUT")
      .default(D.handlerTimeoutMs, "30s"),
    new Option("--concurrency <n>", "most handler calls at once; 0 = as many as --max-in-flight")
      .argParser(intFlag("concurrency", 0, 100_000))
      .env("ORDERFLOW_CONCURRENCY")
      .default(D.concurrency),
    new Option(
      "--late-redeliveries <mode>",
      "a redelivery past the duplicate window: verify (ask the order index, hold while it cannot tell) or publish",
    )
      .choices(Object.values(LateRedeliveries))
      .env("ORDERFLOW_LATE_REDELIVERIES")
      .default(D.lateRedeliveries),
    new Option("--rate-limit <n/s>", "most handler starts per second (or n/m per minute); default no limit")
      .argParser(rateLimitFlag)
      .env("ORDERFLOW_RATE_LIMIT"),
    new Option(
      "--drain-timeout <duration>",
      "on SIGINT/SIGTERM, how long running handlers may finish before they are aborted and given back",
    )
      .argParser((v) => Math.round(durationFlag("drain-timeout")(v)))
      .env("ORDERFLOW_DRAIN_TIMEOUT")
      .default(D.drainTimeoutMs, "10s"),
  ];
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
  for (const o of stageFlagOptions()) cmd.addOption(o);
  return cmd;
}
