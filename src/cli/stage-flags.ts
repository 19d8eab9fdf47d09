import { type Command, Option } from "commander";
import { DEFAULT_STAGE_WORKER_OPTIONS as D } from "../stages/worker-options.js";
import { intFlag } from "./context.js";

/** The stage-worker tuning flags, shared by `orderflow worker` and `orderflow up`. */
export interface StageFlags {
  batch: number;
  maxInFlight: number;
  maxAttempts: number;
}

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
  ];
}

/** Adds the stage flags to a command (in the chain: `withStageFlags(new Command(…)).option(…)`). */
export function withStageFlags(cmd: Command): Command {
  for (const o of stageFlagOptions()) cmd.addOption(o);
  return cmd;
}
