/**
 * Your first handler: the processor's transformation, with one business rule.
 *
 *   npx orderflow up --processor-handler examples/first-handler.ts
 *
 * An order number must be digits only. Any other order can never succeed, so it is dead-lettered at
 * once (InvalidOrderError, reason `not-numeric`) instead of being retried; anything else a handler
 * throws is retried with backoff. The README's walk-through widens the rule and replays the order.
 */
import { type HandlerContext, InvalidOrderError, type OrderInput } from "orderflow";

const VALID_ORDER_NO = /^[0-9]+$/;

export default function checkOrder(order: OrderInput, ctx: HandlerContext): string {
  if (!VALID_ORDER_NO.test(order.orderNo)) {
    throw new InvalidOrderError("not-numeric", `order number "${order.orderNo}" is not digits only`);
  }
  ctx.logger.info("order accepted");
  return `${order.orderNo},processed`;
}
