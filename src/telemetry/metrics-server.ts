import Fastify, { type FastifyInstance } from "fastify";
import { AlreadyStartedError, errorMessage } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { type HealthRoutesOptions, healthRoutes } from "./health-routes.js";
import { type HttpListener, listenHttp } from "./http-listen.js";
import type { MetricsListenOptions } from "./metrics-options.js";

/**
 * The metrics listener of `worker`, `indexer` and `up --metrics-port`: GET /metrics, /healthz and
 * /readyz and nothing else, from the same route plugin the dashboard mounts (so both answer alike).
 * Fastify because that plugin is a fastify one, and its close() lets a scrape in progress finish.
 * No token: it listens on loopback unless told otherwise (--metrics-host).
 */
export class MetricsServer {
  private app: FastifyInstance | undefined;
  private listener: HttpListener | undefined;

  constructor(
    private readonly where: { host: string; port: number },
    private readonly routes: HealthRoutesOptions,
    private readonly logger: Logger,
  ) {}

  /** Listens; a port in use fails with one line naming host:port and how to pick another. */
  async start(): Promise<void> {
    if (this.app) throw new AlreadyStartedError("MetricsServer");
    const app = Fastify({ logger: false });
    this.app = app;
    // A scrape or readiness check that throws is a 500 for the scraper and a line in our log.
    app.setErrorHandler((err, req, reply) => {
      const message = errorMessage(err);
      this.logger.warn({ err: message, url: req.url }, "metrics listener request failed");
      void reply.code(500).send({ error: message });
    });
    await app.register(healthRoutes, this.routes);
    this.listener = await listenHttp(app, this.where.host, this.where.port, {
      what: "metrics",
      hostFlag: "--metrics-host",
      hostEnv: "ORDERFLOW_METRICS_HOST",
      portFlag: "--metrics-port",
      portEnv: "ORDERFLOW_METRICS_PORT",
    });
  }

  /** `http://host:port/` once started. */
  get url(): string {
    return this.listener?.url ?? "";
  }

  get port(): number | undefined {
    return this.listener?.port;
  }

  /** Stops listening, after requests in progress are answered. Idempotent. */
  async stop(): Promise<void> {
    const app = this.app;
    this.app = undefined;
    this.listener = undefined;
    await app?.close();
  }
}

/**
 * The metrics listener the options ask for, started, with its one start line logged; undefined when
 * no --metrics-port is given.
 */
export async function startMetricsServer(
  options: MetricsListenOptions,
  routes: HealthRoutesOptions,
  logger: Logger,
): Promise<MetricsServer | undefined> {
  if (options.metricsPort === undefined) return undefined;
  const server = new MetricsServer({ host: options.metricsHost, port: options.metricsPort }, routes, logger);
  try {
    await server.start();
  } catch (err) {
    await server.stop();
    throw err;
  }
  logger.info(
    { url: server.url },
    `metrics on ${server.url}metrics (health ${server.url}healthz, ready ${server.url}readyz)`,
  );
  return server;
}
