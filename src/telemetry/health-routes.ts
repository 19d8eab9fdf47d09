import type { FastifyInstance } from "fastify";
import type { Readiness } from "./health.js";
import type { OrderflowMetrics } from "./metrics.js";

export interface HealthRoutesOptions {
  /** The process's readiness now (health.ts has one assessment per process kind). */
  readiness: () => Readiness;
  metrics: OrderflowMetrics;
}

/**
 * For load balancers, probes and Prometheus: `/healthz` (200 while the process answers at all),
 * `/readyz` (200 ready, 503 not, with the checks and reasons), `/metrics`. The dashboard mounts it
 * behind its token gate (health and readiness stay open); the metrics listener of `worker`,
 * `indexer` and `up --metrics-port` serves it alone.
 */
export async function healthRoutes(app: FastifyInstance, o: HealthRoutesOptions): Promise<void> {
  const startedAt = Date.now();
  app.get("/healthz", async () => ({
    status: "ok",
    uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
  }));

  app.get("/readyz", async (_req, reply) => {
    const r = o.readiness();
    return reply.code(r.ready ? 200 : 503).send(r);
  });

  app.get("/metrics", async (_req, reply) => {
    const text = await o.metrics.text();
    return reply.header("content-type", o.metrics.contentType).send(text);
  });
}
