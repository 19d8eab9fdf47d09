import type { HandlerContext, OrderInput } from "orderflow";

/** Step 4: hand the parcel to the carrier. */
export default function ship(order: OrderInput, ctx: HandlerContext): string {
  ctx.setHeader("Shop-Carrier", "default");
  return `${order.orderNo},shipped`;
}
