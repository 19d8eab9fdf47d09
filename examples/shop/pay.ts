import type { HandlerContext, OrderInput } from "orderflow";

/**
 * Step 3: take the payment. With PAYMENT_URL set, POSTs the order to that service (its spans join
 * the order's trace when tracing is on) and fails the attempt on anything but 2xx, so the order is
 * retried and dead-lettered here, at step three, when the service keeps refusing it.
 */
export default async function pay(order: OrderInput, ctx: HandlerContext): Promise<string> {
  const url = process.env.PAYMENT_URL;
  if (url) {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": ctx.idempotencyKey },
      body: JSON.stringify({ orderNo: order.orderNo }),
      signal: ctx.signal,
    });
    if (!res.ok) throw new Error(`payment service answered ${res.status}`);
  }
  return `${order.orderNo},paid`;
}
