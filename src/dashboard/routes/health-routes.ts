import type { FastifyInstance } from "fastify";
import type { LiveState } from "../live-state.js";
import type { OrderflowMetrics } from "../metrics.js";

export interface HealthRoutesOptions {
  state: LiveState;
  metrics: OrderflowMetrics;
}

/** For load balancers, probes and Prometheus: `/healthz`, `/readyz`, `/metrics`. */
export async function healthRoutes(app: FastifyInstance, o: HealthRoutesOptions): Promise<void> {
  const startedAt = Date.now();
  app.get("/healthz", async () => ({
    status: "ok",
    uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
  }));

  app.get("/readyz", async (_req, reply) => {
    const r = o.state.readiness();
    return reply.code(r.ready ? 200 : 503).send(r);
  });

  app.get("/metrics", async (_req, reply) => {
    const text = await o.metrics.text();
    return reply.header("content-type", o.metrics.contentType).send(text);
  });
}
