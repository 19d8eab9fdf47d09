import type { HandlerContext, OrderInput } from "orderflow";

/**
 * Step 2: reserve the stock. A real shop calls its inventory here with `ctx.idempotencyKey`, so a
 * redelivered order reserves once; this example only records that it did.
 */
export default async function reserve(order: OrderInput, ctx: HandlerContext): Promise<string> {
  ctx.logger.debug({ key: ctx.idempotencyKey }, "stock reserved");
  return `${order.orderNo},reserved`;
}
