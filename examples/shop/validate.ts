import type { HandlerContext, OrderInput } from "orderflow";
import { InvalidOrderError } from "orderflow";

/**
 * Step 1: an order number the shop can take. Rejected orders are dead-lettered with the reason;
 * everything else goes on as `<orderNo>,validated`.
 */
export default function validate(order: OrderInput, ctx: HandlerContext): string {
  if (order.orderNo.startsWith("test-")) {
    throw new InvalidOrderError("test-order", `order ${order.orderNo} is a test order`);
  }
  ctx.logger.debug({ orderNo: order.orderNo }, "validated");
  return `${order.orderNo},validated`;
}
