import { type Command, Option } from "commander";
import { UsageError } from "../common/errors.js";
import {
  DEFAULT_METRICS_LISTEN_OPTIONS as D,
  type MetricsListenOptions,
  metricsListenOptions,
} from "../telemetry/metrics-options.js";
import { addOptionTable, type OptionTable, readOptionTable } from "./option-table.js";

/** `--metrics-port` as typed: a whole number 0..65535, or a one-line error with what to give. */
function metricsPortFlag(v: string): number {
  const n = Number(v.trim());
  if (v.trim() === "" || !Number.isInteger(n) || n < 0 || n > 65_535) {
    throw new UsageError(`--metrics-port must be a whole number from 0 to 65535, got "${v}"`, {
      hint: "give a free TCP port such as 9464 (0 picks one), or leave it unset for no metrics listener",
    });
  }
  return n;
}

/** The metrics listener's flags, by the MetricsListenOptions key each fills (fresh Options per command). */
export function metricsOptionTable(): Required<OptionTable<MetricsListenOptions>> {
  return {
    metricsPort: new Option(
      "--metrics-port <port>",
      "serve /metrics, /healthz and /readyz on this port (0 picks a free one); default none",
    )
      .argParser(metricsPortFlag)
      .env("ORDERFLOW_METRICS_PORT"),
    metricsHost: new Option("--metrics-host <host>", "interface of the metrics listener")
      .env("ORDERFLOW_METRICS_HOST")
      .default(D.metricsHost),
  };
}

/** Adds the metrics flags to a command (worker, indexer, up). */
export function withMetricsFlags(cmd: Command): Command {
  return addOptionTable(cmd, metricsOptionTable());
}

/** The metrics listener the command's flags ask for, checked. */
export function readMetricsFlags(values: Record<string, unknown>): MetricsListenOptions {
  return metricsListenOptions(readOptionTable<MetricsListenOptions>(metricsOptionTable(), values));
}
