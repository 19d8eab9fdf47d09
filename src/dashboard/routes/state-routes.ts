import type { FastifyInstance } from "fastify";
import type { LiveState } from "../live-state.js";
import type { SseHub } from "../sse.js";

export interface StateRoutesOptions {
  state: LiveState;
  hub: SseHub;
}

/** The page's picture of the pipeline: one snapshot, and the live event stream (SSE). */
export async function stateRoutes(app: FastifyInstance, o: StateRoutesOptions): Promise<void> {
  app.get("/api/snapshot", async () => o.state.snapshot());

  app.get("/api/events", (_req, reply) => {
    // The stream outlives the handler: fastify hands the raw response to the hub.
    reply.hijack();
    o.hub.add(reply.raw);
  });

  // Open event streams never end by themselves; end them before the server waits for its connections.
  app.addHook("preClose", async () => {
    o.hub.close();
  });
}
