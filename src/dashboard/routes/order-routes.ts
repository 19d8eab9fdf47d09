import type { FastifyInstance } from "fastify";
import type { OrderLookup } from "../../orders/order-lookup.js";
import { timelineJson, timelineText } from "../../orders/timeline-text.js";
import { badInput } from "./route-errors.js";

export interface OrderRoutesOptions {
  /** The same lookup as `orderflow order` (orders/order-lookup.ts). */
  lookup: (orderNo: string) => Promise<OrderLookup>;
  /** Template of the link to a trace (`up --trace-url`): each traced entry's `traceUrl`. */
  traceUrl?: string | undefined;
}

/** Longest order number the lookup box takes: longer keys are never indexed (stages/order-key.ts). */
const ORDER_NO_MAX_CHARS = 256;

const lookupSchema = {
  querystring: {
    type: "object",
    required: ["no"],
    properties: { no: { type: "string", minLength: 1, maxLength: ORDER_NO_MAX_CHARS } },
  },
} as const;

/**
 * `GET /api/order?no=…`: one order's timeline, as JSON and as the text `orderflow order` prints,
 * with the links to traces already made, so the page needs no template of its own.
 */
export async function orderRoutes(app: FastifyInstance, o: OrderRoutesOptions): Promise<void> {
  app.get<{ Querystring: { no: string } }>(
    "/api/order",
    {
      schema: lookupSchema,
      schemaErrorFormatter: badInput(
        `give an order number of 1 to ${ORDER_NO_MAX_CHARS} characters as it was published, e.g. 100001`,
      ),
    },
    async (req) => {
      const lookup = await o.lookup(req.query.no);
      const links = { traceUrl: o.traceUrl };
      return {
        ...timelineJson(lookup, links),
        text: lookup.entries.length > 0 ? timelineText(lookup, links) : null,
      };
    },
  );
}
