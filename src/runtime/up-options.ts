import { withDefaults } from "../common/defaults.js";
import { UsageError } from "../common/errors.js";
import {
  DEFAULT_TRACE_LINK_OPTIONS,
  type TraceLinkOptions,
  traceLinkOptions,
} from "../orders/lookup-options.js";
import type { LateRedeliveries } from "../stages/output-ledger.js";
import type { StartRate } from "../stages/start-gate.js";
import { DEFAULT_STAGE_WORKER_OPTIONS } from "../stages/worker-options.js";
import {
  DEFAULT_METRICS_LISTEN_OPTIONS,
  type MetricsListenOptions,
  metricsListenOptions,
} from "../telemetry/metrics-options.js";

/**
 * What `orderflow up` runs in its own process besides the monitor feed and the dashboard (which
 * always run): the pipeline's stages by name (the seed's processor and dispatcher, or a pipeline
 * file's) and the order indexer.
 */
export const Part = { Processor: "processor", Dispatcher: "dispatcher", Indexer: "indexer" } as const;
export type Part = string;
/** The seed's parts, for help texts. */
export const PARTS: readonly Part[] = [Part.Processor, Part.Dispatcher, Part.Indexer];

/**
 * The parts `up` runs for a pipeline's stage names: those asked for, each checked, or by default
 * every stage and the indexer.
 */
export function partsToRun(
  parts: readonly Part[] | undefined,
  stageNames: readonly string[],
): readonly Part[] {
  const known = [...stageNames, Part.Indexer];
  if (parts === undefined) return known;
  for (const p of parts) {
    if (!known.includes(p)) {
      throw new UsageError(`--workers: unknown part "${p}"`, {
        hint: `use a comma-separated list of ${known.join(", ")}, or none`,
      });
    }
  }
  return parts;
}

/** Whether `up` may start its own nats-server when none answers. */
export const ManagedServerMode = { Auto: "auto", Never: "never" } as const;
export type ManagedServerMode = (typeof ManagedServerMode)[keyof typeof ManagedServerMode];

/** What `up` does when it must start a nats-server and the binary is missing. */
export const InstallMode = { Auto: "auto", Never: "never", DryRun: "dry-run" } as const;
export type InstallMode = (typeof InstallMode)[keyof typeof InstallMode];

/** Whether a dashboard off loopback must have a token. */
export const DashboardAuth = { Token: "token", None: "none" } as const;
export type DashboardAuth = (typeof DashboardAuth)[keyof typeof DashboardAuth];

/** 127.0.0.0/8, ::1 and localhost: only this machine can reach them. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * Options of `orderflow up` (connection and topology come from the global flags). Each has a flag
 * and an environment variable (see the table in docs/cli.md), so the same image runs anywhere.
 */
export interface UpOptions extends MetricsListenOptions, TraceLinkOptions {
  /** Dashboard, /metrics and health interface (`--host`, `ORDERFLOW_HOST`). Default 127.0.0.1: loopback only. */
  host: string;
  /** Dashboard port (`--port`, `ORDERFLOW_PORT`); 0 picks a free one. Default 8080. */
  port: number;
  /**
   * Port probed on 127.0.0.1 when neither --server nor NATS_URL is given, and the port of the managed
   * server started when nothing answers there (`--nats-port`, `ORDERFLOW_NATS_PORT`). Default 4222.
   */
  natsPort: number;
  /** JetStream store of the managed server (`--store-dir`, `ORDERFLOW_STORE_DIR`). Default `./.orderflow`. */
  storeDir: string;
  /**
   * The managed server's JetStream `sync_interval` (`--sync`, `ORDERFLOW_SYNC`): "always" fsyncs every
   * write before its PubAck, so acknowledged orders survive a power loss (nats-server 2.10+); a
   * duration such as "10s" syncs that often. Default undefined: the server's own, every 2 minutes.
   */
  sync: string | undefined;
  /**
   * The order index on disk (`--index-dir`, `ORDERFLOW_INDEX_DIR`); `:memory:` keeps it in the heap.
   * Default undefined: `<storeDir>/index`.
   */
  indexDir: string | undefined;
  /** Start a nats-server when none answers (`--managed-server`, `ORDERFLOW_MANAGED_SERVER`). Default auto. */
  managedServer: ManagedServerMode;
  /** When the managed server's binary is missing (`--install`, `ORDERFLOW_INSTALL`). Default auto. */
  install: InstallMode;
  /**
   * Parts run in this process (`--workers`, `ORDERFLOW_WORKERS`): stage names and `indexer`.
   * Default undefined: every stage of the pipeline and the indexer (see {@link partsToRun}).
   */
  parts: readonly Part[] | undefined;
  /** Messages per pull request (`--batch`, `ORDERFLOW_BATCH`). Default 250. */
  batch: number;
  /** Most orders in progress per stage (`--max-in-flight`, `ORDERFLOW_MAX_IN_FLIGHT`). Default 1000. */
  maxInFlight: number;
  /** Handler failures before an order is dead-lettered (`--max-attempts`, `ORDERFLOW_MAX_ATTEMPTS`). Default 5. */
  maxAttempts: number;
  /** Async handler timeout (`--handler-timeout`, `ORDERFLOW_HANDLER_TIMEOUT`). Default 30,000 ms. */
  handlerTimeoutMs: number;
  /** Most handler calls at once per stage (`--concurrency`, `ORDERFLOW_CONCURRENCY`); 0: no limit. Default 0. */
  concurrency: number;
  /** A redelivery past the duplicate window (`--late-redeliveries`, `ORDERFLOW_LATE_REDELIVERIES`): verify or publish. Default verify. */
  lateRedeliveries: LateRedeliveries;
  /** Most handler starts per second (or minute) per stage (`--rate-limit`, `ORDERFLOW_RATE_LIMIT`). Default no limit. */
  rateLimit: StartRate | undefined;
  /** How long running handlers may finish on stop (`--drain-timeout`, `ORDERFLOW_DRAIN_TIMEOUT`). Default 10,000 ms. */
  drainTimeoutMs: number;
  /** How often the dashboard and the gauges read the stream and consumers (`--refresh`, `ORDERFLOW_REFRESH`). Default 1,000 ms. */
  refreshMs: number;
  /** The dashboard's publish form (`--publish-form`, `ORDERFLOW_PUBLISH_FORM`, on|off). Default on. */
  publishForm: boolean;
  /** Full-access dashboard token (`--dashboard-token`, `ORDERFLOW_DASHBOARD_TOKEN`). Default none. */
  dashboardToken: string | undefined;
  /** Read-only dashboard token (`--dashboard-readonly-token`, `ORDERFLOW_DASHBOARD_READONLY_TOKEN`). Default none. */
  dashboardReadonlyToken: string | undefined;
  /** Host names the dashboard answers besides IPs and localhost (`--allowed-hosts`, `ORDERFLOW_ALLOWED_HOSTS`). Default none. */
  allowedHosts: readonly string[];
  /**
   * `token`: a --host off loopback needs a token; `none`: the operator says the dashboard is open on
   * purpose (`--dashboard-auth`, `ORDERFLOW_DASHBOARD_AUTH`). Default token.
   */
  dashboardAuth: DashboardAuth;
}

export const DEFAULT_UP_OPTIONS: Readonly<UpOptions> = Object.freeze({
  host: "127.0.0.1",
  port: 8080,
  natsPort: 4222,
  storeDir: ".orderflow",
  sync: undefined,
  indexDir: undefined,
  managedServer: ManagedServerMode.Auto,
  install: InstallMode.Auto,
  parts: undefined,
  batch: DEFAULT_STAGE_WORKER_OPTIONS.batch,
  maxInFlight: DEFAULT_STAGE_WORKER_OPTIONS.maxInFlight,
  maxAttempts: DEFAULT_STAGE_WORKER_OPTIONS.maxAttempts,
  handlerTimeoutMs: DEFAULT_STAGE_WORKER_OPTIONS.handlerTimeoutMs,
  concurrency: DEFAULT_STAGE_WORKER_OPTIONS.concurrency,
  lateRedeliveries: DEFAULT_STAGE_WORKER_OPTIONS.lateRedeliveries,
  rateLimit: DEFAULT_STAGE_WORKER_OPTIONS.rateLimit,
  drainTimeoutMs: DEFAULT_STAGE_WORKER_OPTIONS.drainTimeoutMs,
  refreshMs: 1_000,
  publishForm: true,
  dashboardToken: undefined,
  dashboardReadonlyToken: undefined,
  allowedHosts: Object.freeze([]) as readonly string[],
  dashboardAuth: DashboardAuth.Token,
  // A second listener for /metrics, /healthz and /readyz only (the dashboard port serves them too).
  ...DEFAULT_METRICS_LISTEN_OPTIONS,
  // The order lookup's links to traces (`--trace-url`): none by default.
  ...DEFAULT_TRACE_LINK_OPTIONS,
});

/** Merges defaults with the caller's options (never changing the caller's object) and checks them. */
export function upOptions(overrides: Partial<UpOptions> = {}): UpOptions {
  const o = withDefaults<UpOptions>(DEFAULT_UP_OPTIONS, overrides);
  for (const [k, v, min, max] of [
    ["port", o.port, 0, 65_535],
    ["natsPort", o.natsPort, 0, 65_535],
    ["refreshMs", o.refreshMs, 100, 3_600_000],
  ] as const) {
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new RangeError(`${k} must be a whole number from ${min} to ${max}, got ${v}`);
    }
  }
  metricsListenOptions(o);
  traceLinkOptions(o);
  if (o.dashboardToken === "" || o.dashboardReadonlyToken === "") {
    throw new UsageError("a dashboard token cannot be empty", {
      hint: "generate one, e.g. `openssl rand -hex 24`",
    });
  }
  if (o.dashboardToken !== undefined && o.dashboardToken === o.dashboardReadonlyToken) {
    throw new UsageError("the read-only dashboard token equals the full one", {
      hint: "use two different tokens",
    });
  }
  const tokens = o.dashboardToken !== undefined || o.dashboardReadonlyToken !== undefined;
  if (!isLoopback(o.host) && !tokens && o.dashboardAuth !== DashboardAuth.None) {
    throw new UsageError(`refusing to serve the dashboard on ${o.host} without a token`, {
      hint: "set --dashboard-token (ORDERFLOW_DASHBOARD_TOKEN), or pass --dashboard-auth none to serve it open on purpose",
    });
  }
  return o;
}
