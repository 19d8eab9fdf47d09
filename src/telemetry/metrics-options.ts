import { withDefaults } from "../common/defaults.js";
import { UsageError } from "../common/errors.js";

/**
 * Where `worker`, `indexer` and `up` serve /metrics, /healthz and /readyz besides anything else
 * (`up` also serves them on its dashboard port). Defaults in one place; the flags are declared once
 * in cli/metrics-flags.ts.
 */
export interface MetricsListenOptions {
  /**
   * `--metrics-port`, `ORDERFLOW_METRICS_PORT`: 0 picks a free one. Default undefined: no metrics
   * listener (the container image sets 9464, the port Prometheus' exporters convention gives).
   */
  metricsPort: number | undefined;
  /**
   * `--metrics-host`, `ORDERFLOW_METRICS_HOST`. Default 127.0.0.1: loopback only, since nothing
   * guards these routes; a pod or container sets 0.0.0.0 for its scraper and probes.
   */
  metricsHost: string;
}

export const DEFAULT_METRICS_LISTEN_OPTIONS: Readonly<MetricsListenOptions> = Object.freeze({
  metricsPort: undefined,
  metricsHost: "127.0.0.1",
});

/** Merges defaults with the caller's options and checks them. */
export function metricsListenOptions(overrides: Partial<MetricsListenOptions> = {}): MetricsListenOptions {
  const o = withDefaults<MetricsListenOptions>(DEFAULT_METRICS_LISTEN_OPTIONS, overrides);
  const p = o.metricsPort;
  if (p !== undefined && (!Number.isInteger(p) || p < 0 || p > 65_535)) {
    throw new UsageError(`--metrics-port must be a whole number from 0 to 65535, got ${p}`, {
      hint: "give a free TCP port such as 9464 (0 picks one), or leave it unset for no metrics listener",
    });
  }
  if (o.metricsHost.trim() === "") {
    throw new UsageError("--metrics-host cannot be empty", {
      hint: "127.0.0.1 for this machine only, 0.0.0.0 for every interface",
    });
  }
  return o;
}
