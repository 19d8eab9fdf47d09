import type { FastifyInstance } from "fastify";
import type { PublishJobs } from "../publish-jobs.js";
import { badInput } from "./route-errors.js";

export interface PublishRoutesOptions {
  /** Absent when the publish form is turned off (`--publish-form off`): publishing answers 403. */
  jobs: PublishJobs | undefined;
}

// The form's fields are validated where the job is made (publish-jobs.ts, PublishRequest), so the
// CLI-shaped messages (`bad count: …; count 1..100000`) come from one place; here only the shape.
const startSchema = { body: { type: "object" } } as const;

const cancelSchema = {
  params: { type: "object", properties: { id: { type: "integer", minimum: 1 } } },
} as const;

/** The test-order form: start a publish job, cancel one. */
export async function publishRoutes(app: FastifyInstance, o: PublishRoutesOptions): Promise<void> {
  app.post(
    "/api/publish",
    { schema: startSchema, schemaErrorFormatter: badInput("send a JSON object: count, template, interval") },
    async (req, reply) => {
      if (!o.jobs)
        return reply.code(403).send({ error: "the publish form is turned off (--publish-form off)" });
      return reply.code(202).send(o.jobs.start(req.body));
    },
  );

  app.post<{ Params: { id: number } }>(
    "/api/publish/:id/cancel",
    { schema: cancelSchema, schemaErrorFormatter: badInput("a job is named by the id its start returned") },
    async (req, reply) => {
      const cancelled = (await o.jobs?.cancel(req.params.id)) ?? false;
      return reply.code(cancelled ? 200 : 404).send({ cancelled });
    },
  );
}
