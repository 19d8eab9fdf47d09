import Fastify, { type FastifyError, type FastifyInstance } from "fastify";
import { ErrorCode, errorMessage, OrderflowError } from "../common/errors.js";
import { type Logger, silentLogger } from "../common/logger.js";
import { NatsFailure, natsFailure } from "../common/nats-errors.js";
import type { OrderLookup } from "../orders/order-lookup.js";
import { healthRoutes } from "../telemetry/health-routes.js";
import type { OrderflowMetrics } from "../telemetry/metrics.js";
import { type Asset, loadAssets } from "./assets.js";
import type { DeadLetterActions } from "./dead-letter-actions.js";
import type { LiveState } from "./live-state.js";
import type { PublishJobs } from "./publish-jobs.js";
import { assetRoutes } from "./routes/asset-routes.js";
import { deadLetterRoutes } from "./routes/dead-letter-routes.js";
import { loginRoutes } from "./routes/login-routes.js";
import { orderRoutes } from "./routes/order-routes.js";
import { publishRoutes } from "./routes/publish-routes.js";
import { stateRoutes } from "./routes/state-routes.js";
import { DashboardGate } from "./security.js";
import { type DashboardSecurityOptions, DEFAULT_DASHBOARD_SECURITY } from "./security-options.js";
import type { SseHub } from "./sse.js";

/** What the dashboard is built from; `orderflow up` wires the real parts (runtime/system.ts). */
export interface DashboardDeps {
  state: LiveState;
  hub: SseHub;
  metrics: OrderflowMetrics;
  /** The same lookup as `orderflow order` (orders/order-lookup.ts). */
  lookup: (orderNo: string) => Promise<OrderLookup>;
  /** The lookup's link to a trace, a URL with `{traceId}` (`up --trace-url`); default none, ids only. */
  traceUrl?: string;
  /** The dead-letter table's listing, detail and replay; absent, those routes answer 404. */
  deadLetters?: DeadLetterActions;
  /** Absent when the publish form is turned off. */
  publish: PublishJobs | undefined;
  logger?: Logger;
  /** Tokens and allowed hosts; default: no tokens, IP addresses and localhost only. */
  security?: Partial<DashboardSecurityOptions>;
  /** Default: the files of src/dashboard/public and uPlot, read once. */
  assets?: Map<string, Asset>;
}

/** NATS failures that mean "not now" (NATS away or slow) rather than a bad request or a bug. */
const UNAVAILABLE: ReadonlySet<NatsFailure> = new Set([
  NatsFailure.Timeout,
  NatsFailure.Disconnected,
  NatsFailure.Closed,
  NatsFailure.NoResponders,
]);

function statusOf(err: unknown): number {
  if (err instanceof OrderflowError) {
    if (err.code === ErrorCode.Usage || err.code === ErrorCode.InvalidOrder) return 400;
    if (err.code === ErrorCode.Internal) return 500;
    return 503;
  }
  const fastifyStatus = (err as FastifyError).statusCode;
  if (typeof fastifyStatus === "number" && fastifyStatus >= 400 && fastifyStatus < 500) return fastifyStatus;
  // Timeouts and "disconnected" from the client while NATS is away.
  if (err instanceof Error && UNAVAILABLE.has(natsFailure(err))) return 503;
  return 500;
}

/** The answer to a failed request: its status and one line (`message; hint`). */
function errorReply(err: unknown): { status: number; message: string } {
  return {
    status: statusOf(err),
    message: err instanceof OrderflowError ? err.oneLine() : errorMessage(err),
  };
}

/**
 * The dashboard's HTTP app: one fastify plugin per concern (routes/), each route declaring what it
 * accepts as a JSON schema, so bad input is a 400 before any handler runs. Built without listening
 * (server.ts listens), so tests can `inject()` requests.
 */
export async function buildDashboard(deps: DashboardDeps): Promise<FastifyInstance> {
  const logger = deps.logger ?? silentLogger;
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024 });

  app.setErrorHandler((err, _req, reply) => {
    const { status, message } = errorReply(err);
    if (status >= 500) logger.warn({ err: message, status }, "dashboard request failed");
    void reply.code(status).send({ error: message });
  });

  // The gate's hooks are the root's, so they run before every route of every plugin below.
  const gate = new DashboardGate({ ...DEFAULT_DASHBOARD_SECURITY, ...deps.security });
  gate.install(app);
  await app.register(loginRoutes, { gate });
  await app.register(assetRoutes, { assets: deps.assets ?? (await loadAssets()) });
  await app.register(healthRoutes, { readiness: () => deps.state.readiness(), metrics: deps.metrics });
  await app.register(stateRoutes, { state: deps.state, hub: deps.hub });
  await app.register(orderRoutes, { lookup: deps.lookup, traceUrl: deps.traceUrl });
  await app.register(deadLetterRoutes, { actions: deps.deadLetters });
  await app.register(publishRoutes, { jobs: deps.publish });
  return app;
}
