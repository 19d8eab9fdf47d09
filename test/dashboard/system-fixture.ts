import { onTestFinished } from "vitest";
import { OrderflowSystem, type SystemConfig } from "../../src/runtime/system.js";
import { type UpOptions, upOptions } from "../../src/runtime/up-options.js";
import { DEFAULT_TOPOLOGY } from "../../src/topology/spec.js";
import { tempIndexDir } from "../helpers/fixtures.js";
import type { NatsServer } from "../helpers/nats-server.js";

/**
 * The whole of `orderflow up` in the test's process, against the test's own server, with the
 * dashboard on a free port; stopped when the test ends. `config` gives another pipeline (its
 * topology and handler stages); the seed's by default.
 */
export async function startSystem(
  server: NatsServer,
  opts: Partial<UpOptions> = {},
  config: Partial<Pick<SystemConfig, "topology" | "stages" | "handlerFiles">> = {},
): Promise<OrderflowSystem> {
  const system = await OrderflowSystem.start(
    {
      connect: { servers: [server.url], name: "test-up" },
      topology: { ...DEFAULT_TOPOLOGY },
      ...config,
      options: upOptions({ port: 0, refreshMs: 250, indexDir: tempIndexDir(), ...opts }),
      natsDescription: `test server ${server.url}`,
    },
    { processMetrics: false },
  );
  onTestFinished(() => system.stop());
  return system;
}

/** GET on the system's dashboard: status and parsed JSON (or text). */
export async function get(
  system: OrderflowSystem,
  path: string,
): Promise<{ status: number; body: unknown; text: string }> {
  const res = await fetch(new URL(path, system.dashboardUrl));
  const text = await res.text();
  let body: unknown = text;
  if ((res.headers.get("content-type") ?? "").includes("json")) body = JSON.parse(text);
  return { status: res.status, body, text };
}

/** The value of one sample line of the Prometheus text, e.g. `orderflow_stage_processed_total{stage="processor"}`. */
export { metricValue } from "../helpers/metrics.js";
