import type { Logger } from "../common/logger.js";
import type { Tracing } from "../common/tracing.js";

/** Each process's service name, unless OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES) names it. */
export const ServiceName = {
  Pub: "orderflow-pub",
  Processor: "orderflow-processor",
  Dispatcher: "orderflow-dispatcher",
  Indexer: "orderflow-indexer",
  Up: "orderflow-up",
  Bench: "orderflow-bench",
  Dashboard: "orderflow-dashboard",
  Replay: "orderflow-replay",
} as const;
export type ServiceName = (typeof ServiceName)[keyof typeof ServiceName];

export interface TracingRequest {
  /** Service name unless the environment sets one. */
  serviceName: string;
  /** `--otel` was given. */
  flag?: boolean;
  logger: Logger;
  /** Default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

function set(v: string | undefined): boolean {
  return v !== undefined && v.trim() !== "";
}

/**
 * Whether this process traces: `--otel`, or the standard environment asking for traces
 * (OTEL_TRACES_EXPORTER other than `none`, an OTLP endpoint); OTEL_SDK_DISABLED=true, or
 * OTEL_TRACES_EXPORTER=none, turns it off whatever else says.
 */
export function tracingWanted(flag: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? "")
    .split(",")
    .map((e) => e.trim().toLowerCase())
    .filter((e) => e !== "");
  if (exporters.length > 0) return exporters.some((e) => e !== "none");
  return flag === true || set(env.OTEL_EXPORTER_OTLP_ENDPOINT) || set(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Starts tracing when wanted and returns it; undefined (and nothing of OpenTelemetry loaded: the SDK
 * is imported here, dynamically, only when on) otherwise. The caller shuts it down on its way out,
 * which exports the spans still buffered.
 *
 * @throws TracingConfigError when the environment asks for an exporter, protocol or sampler orderflow does not support.
 */
export async function startTracing(r: TracingRequest): Promise<Tracing | undefined> {
  const env = r.env ?? process.env;
  if (!tracingWanted(r.flag, env)) return undefined;
  const { startOtelTracing } = await import("./otel-tracing.js");
  return startOtelTracing(r.serviceName, env, r.logger);
}
