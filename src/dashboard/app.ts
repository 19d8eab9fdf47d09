import Fastify, { type FastifyError, type FastifyInstance } from "fastify";
import { ErrorCode, errorMessage, OrderflowError } from "../common/errors.js";
import { type Logger, silentLogger } from "../common/logger.js";
import { NatsFailure, natsFailure } from "../common/nats-errors.js";
import type { OrderLookup } from "../orders/order-lookup.js";
import { timelineJson, timelineText } from "../orders/timeline-text.js";
import { type Asset, loadAssets } from "./assets.js";
import { type DeadLetterActions, filterFrom, type ReplayRequest } from "./dead-letter-actions.js";
import type { LiveState } from "./live-state.js";
import type { OrderflowMetrics } from "./metrics.js";
import type { PublishJobs } from "./publish-jobs.js";
import { DashboardGate, loginPage } from "./security.js";
import { type DashboardSecurityOptions, DEFAULT_DASHBOARD_SECURITY } from "./security-options.js";
import type { SseHub } from "./sse.js";

/** What the dashboard is built from; `orderflow up` wires the real parts (runtime/system.ts). */
export interface DashboardDeps {
  state: LiveState;
  hub: SseHub;
  metrics: OrderflowMetrics;
  /** The same lookup as `orderflow order` (orders/order-lookup.ts). */
  lookup: (orderNo: string) => Promise<OrderLookup>;
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

/** Status codes for our errors: the client's mistake, or a dependency (NATS) that is not there now. */
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

/**
 * The dashboard's HTTP app: the page and its assets, the live event stream, order lookup, the
 * publish form, /metrics, /healthz and /readyz. Built without listening (server.ts listens), so
 * tests can `inject()` requests.
 */
export async function buildDashboard(deps: DashboardDeps): Promise<FastifyInstance> {
  const logger = deps.logger ?? silentLogger;
  const assets = deps.assets ?? (await loadAssets());
  const startedAt = Date.now();
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024 });

  app.setErrorHandler((err, _req, reply) => {
    const status = statusOf(err);
    const message = err instanceof OrderflowError ? err.oneLine() : errorMessage(err);
    if (status >= 500) logger.warn({ err: message, status }, "dashboard request failed");
    void reply.code(status).send({ error: message });
  });

  const gate = new DashboardGate({ ...DEFAULT_DASHBOARD_SECURITY, ...deps.security });
  gate.install(app);
  app.get("/login", (_req, reply) => {
    void reply.header("content-type", "text/html; charset=utf-8").send(loginPage());
  });
  // The login form posts urlencoded; nothing else of ours takes it (the API answers it with 415).
  await app.register(async (scope) => {
    scope.addContentTypeParser(
      "application/x-www-form-urlencoded",
      { parseAs: "string" },
      (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    scope.post<{ Body: { token?: unknown } }>("/login", (req, reply) => {
      const typed = typeof req.body?.token === "string" ? req.body.token : "";
      const setCookie = gate.enabled ? gate.login(typed) : undefined;
      if (gate.enabled && !setCookie) {
        void reply
          .code(401)
          .header("content-type", "text/html; charset=utf-8")
          .send(loginPage("That token is not valid."));
        return;
      }
      if (setCookie) void reply.header("set-cookie", setCookie);
      void reply.redirect("/", 303);
    });
  });

  for (const [path, asset] of assets) {
    app.get(path, (_req, reply) => {
      void reply
        .header("content-type", asset.contentType)
        .header("cache-control", "no-cache")
        .send(asset.body);
    });
  }

  app.get("/healthz", () => ({ status: "ok", uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) }));

  app.get("/readyz", (_req, reply) => {
    const r = deps.state.readiness();
    void reply.code(r.ready ? 200 : 503).send(r);
  });

  app.get("/metrics", async (_req, reply) => {
    const text = await deps.metrics.text();
    void reply.header("content-type", deps.metrics.contentType).send(text);
  });

  app.get("/api/snapshot", () => deps.state.snapshot());

  app.get("/api/events", (_req, reply) => {
    // The stream outlives the handler: fastify hands the raw response to the hub.
    reply.hijack();
    deps.hub.add(reply.raw);
  });

  app.get<{ Querystring: { no?: string } }>("/api/order", async (req) => {
    const orderNo = req.query.no ?? "";
    if (orderNo.length === 0 || orderNo.length > 256) {
      throw new OrderflowError(ErrorCode.Usage, "give an order number (1 to 256 characters)", {
        hint: "type it as it was published, e.g. 100001",
      });
    }
    const lookup = await deps.lookup(orderNo);
    return { ...timelineJson(lookup), text: lookup.entries.length > 0 ? timelineText(lookup) : null };
  });

  app.get<{ Querystring: { stage?: string; reason?: string; order?: string } }>(
    "/api/dead-letters",
    async (req, reply) => {
      if (!deps.deadLetters) return reply.code(404).send({ error: "dead-letter actions are not available" });
      return deps.deadLetters.list(filterFrom({ ...req.query, orderNo: req.query.order }));
    },
  );

  app.get<{ Params: { seq: string } }>("/api/dead-letters/:seq", async (req, reply) => {
    const seq = Number(req.params.seq);
    const found = Number.isInteger(seq) && seq > 0 ? await deps.deadLetters?.show(seq) : undefined;
    if (!found) return reply.code(404).send({ error: `no dead letter at seq ${req.params.seq}` });
    return found;
  });

  app.post<{ Body: ReplayRequest }>("/api/dead-letters/replay", async (req, reply) => {
    if (!deps.deadLetters) return reply.code(404).send({ error: "dead-letter actions are not available" });
    return deps.deadLetters.replay(req.body ?? {});
  });

  app.post("/api/publish", (req, reply) => {
    if (!deps.publish) {
      void reply.code(403).send({ error: "the publish form is turned off (--publish-form off)" });
      return;
    }
    void reply.code(202).send(deps.publish.start(req.body));
  });

  app.post<{ Params: { id: string } }>("/api/publish/:id/cancel", async (req, reply) => {
    const cancelled = (await deps.publish?.cancel(Number(req.params.id))) ?? false;
    void reply.code(cancelled ? 200 : 404).send({ cancelled });
  });

  // Open event streams never end by themselves; end them before the server waits for its connections.
  app.addHook("preClose", async () => {
    deps.hub.close();
  });
  return app;
}
