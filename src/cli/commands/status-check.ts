import { jetstreamManager } from "@nats-io/jetstream";
import { type Command, Option } from "commander";
import { durationFlag } from "../../common/duration.js";
import {
  ConnectionError,
  ConsumerMissingError,
  errorMessage,
  OrderflowError,
  StreamMissingError,
} from "../../common/errors.js";
import { type CheckResult, criticalCheck, evaluateCheck, unknownCheck } from "../../status/check.js";
import { collectCheckReadings } from "../../status/check-collect.js";
import { CHECK_FORMATS, type CheckFormat, formatCheck } from "../../status/check-format.js";
import {
  CHECK_THRESHOLDS,
  type CheckOptions,
  checkOptions,
  DEFAULT_CHECK_OPTIONS,
  type Threshold,
  type ThresholdKey,
} from "../../status/check-options.js";
import { measureStatus } from "../../status/status-sampler.js";
import type { CommandContext } from "../context.js";
import { intFlag } from "../context.js";

/** Commander's attribute for `--<flag>-<level>`: `--ack-pending-warn` is `ackPendingWarn`. */
function attribute(flag: string, level: "warn" | "critical"): string {
  return new Option(`--${flag}-${level} <n>`).attributeName();
}

const shownDefault = (unit: "count" | "duration", n: number) =>
  unit === "duration" ? `${n / 60_000}m` : String(n);

/** Adds --check, --format and every threshold flag (from CHECK_THRESHOLDS) to `status`. */
export function addCheckOptions(cmd: Command): Command {
  cmd
    .option("--check", "one verdict for a monitoring system: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")
    .addOption(
      new Option("--format <format>", "output of --check").choices([...CHECK_FORMATS]).default("nagios"),
    )
    .option(
      "--dead-letter-window <duration>",
      `how far back --check counts dead letters (default ${DEFAULT_CHECK_OPTIONS.deadLetterWindowMs / 60_000}m)`,
      durationFlag("dead-letter-window", { min: 1000 }),
    );
  for (const spec of CHECK_THRESHOLDS) {
    const parse =
      spec.unit === "duration"
        ? (level: string) => durationFlag(`${spec.flag}-${level}`)
        : (level: string) => intFlag(`${spec.flag}-${level}`, 0);
    for (const level of ["warn", "critical"] as const) {
      const def = DEFAULT_CHECK_OPTIONS[spec.key][level];
      cmd.option(
        `--${spec.flag}-${level} <${spec.unit === "duration" ? "duration" : "n"}>`,
        `--check: ${level === "warn" ? "WARNING" : "CRITICAL"} at ${spec.what} >= this, 0 off (default ${shownDefault(spec.unit, def)})`,
        parse(level),
      );
    }
  }
  return cmd;
}

export interface CheckFlags {
  format: CheckFormat;
  deadLetterWindow?: number;
  [flag: string]: unknown;
}

export function checkOptionsFromFlags(flags: CheckFlags): CheckOptions {
  const overrides: { [K in ThresholdKey]?: Partial<Threshold> } = {};
  for (const spec of CHECK_THRESHOLDS) {
    overrides[spec.key] = {
      warn: flags[attribute(spec.flag, "warn")] as number | undefined,
      critical: flags[attribute(spec.flag, "critical")] as number | undefined,
    };
  }
  return checkOptions({ ...overrides, deadLetterWindowMs: flags.deadLetterWindow });
}

/** Why the check could not judge, as the state it gives: a missing pipeline is CRITICAL, the rest UNKNOWN. */
function failedCheck(err: unknown): CheckResult {
  const line = err instanceof OrderflowError ? err.oneLine() : errorMessage(err);
  if (err instanceof StreamMissingError || err instanceof ConsumerMissingError) return criticalCheck(line);
  return unknownCheck(err instanceof ConnectionError ? line : `cannot read the pipeline: ${line}`);
}

/** Runs the check and prints it; returns the exit code. Never throws for NATS trouble: that is UNKNOWN. */
export async function runCheck(ctx: CommandContext, flags: CheckFlags, windowMs: number): Promise<number> {
  let result: CheckResult;
  try {
    // Plugin convention: a check that cannot run as asked (warn above critical) is UNKNOWN.
    const o = checkOptionsFromFlags(flags);
    const nc = await ctx.connect();
    try {
      const jsm = await jetstreamManager(nc);
      const report = await measureStatus(jsm, ctx.topology, { windowMs }, ctx.signal);
      const readings = await collectCheckReadings(jsm, ctx.topology, {
        windowMs: o.deadLetterWindowMs,
        logger: ctx.logger,
      });
      result = evaluateCheck(report, readings, o, Date.now());
    } finally {
      await nc.close();
    }
  } catch (err) {
    result = failedCheck(err);
  }
  process.stdout.write(`${await formatCheck(result, flags.format)}\n`);
  return result.state;
}
