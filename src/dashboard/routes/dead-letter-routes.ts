import type { FastifyInstance } from "fastify";
import { type DeadLetterActions, filterFrom, type ReplayRequest } from "../dead-letter-actions.js";
import { badInput } from "./route-errors.js";

export interface DeadLetterRoutesOptions {
  /** The listing, detail and replay; absent, these routes answer 404. */
  actions: DeadLetterActions | undefined;
}

const text = { type: "string", maxLength: 256 } as const;

const listSchema = {
  querystring: {
    type: "object",
    properties: { stage: text, reason: text, order: text },
    additionalProperties: false,
  },
} as const;

const showSchema = {
  params: { type: "object", properties: { seq: { type: "integer", minimum: 1 } } },
} as const;

const replaySchema = {
  body: {
    type: "object",
    additionalProperties: false,
    properties: {
      seqs: { type: "array", items: { type: "integer", minimum: 1 }, maxItems: 100_000 },
      all: { type: "boolean" },
      filter: {
        type: "object",
        additionalProperties: false,
        properties: { stage: text, reason: text, orderNo: text },
      },
      dryRun: { type: "boolean" },
      force: { type: "boolean" },
    },
  },
} as const;

const NOT_AVAILABLE = { error: "dead-letter actions are not available" };

/**
 * The dead-letter table: list with filters, one dead letter's detail, replay. The same code as
 * `orderflow dead-letters` (orders/replay.ts), so the at-most-once record is shared.
 */
export async function deadLetterRoutes(app: FastifyInstance, o: DeadLetterRoutesOptions): Promise<void> {
  app.get<{ Querystring: { stage?: string; reason?: string; order?: string } }>(
    "/api/dead-letters",
    { schema: listSchema, schemaErrorFormatter: badInput("filter with stage, reason and order") },
    async (req, reply) => {
      if (!o.actions) return reply.code(404).send(NOT_AVAILABLE);
      return o.actions.list(filterFrom({ ...req.query, orderNo: req.query.order }));
    },
  );

  app.get<{ Params: { seq: number } }>(
    "/api/dead-letters/:seq",
    { schema: showSchema, schemaErrorFormatter: badInput("a dead letter is named by its stream sequence") },
    async (req, reply) => {
      const found = await o.actions?.show(req.params.seq);
      if (!found) return reply.code(404).send({ error: `no dead letter at seq ${req.params.seq}` });
      return found;
    },
  );

  app.post<{ Body: ReplayRequest }>(
    "/api/dead-letters/replay",
    {
      schema: replaySchema,
      schemaErrorFormatter: badInput("send seqs (stream sequences), or all, with an optional filter"),
    },
    async (req, reply) => {
      if (!o.actions) return reply.code(404).send(NOT_AVAILABLE);
      return o.actions.replay(req.body ?? {});
    },
  );
}
