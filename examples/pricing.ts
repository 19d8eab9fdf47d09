/**
 * A processor handler that prices each order with an HTTP service before passing it on.
 *
 *   PRICING_URL=http://127.0.0.1:8081 orderflow worker processor --handler examples/pricing.ts
 *
 * The service gets `GET /price/<orderNo>` with an `Idempotency-Key` header that is the same on every
 * retry and redelivery of the order, and the request is cancelled when the handler times out or the
 * worker stops. The price travels in a header, so the dispatcher reads the payload as usual.
 */
import type { HandlerContext, OrderInput } from "orderflow";

const base = process.env.PRICING_URL ?? "http://127.0.0.1:8081";

export default async function price(order: OrderInput, ctx: HandlerContext): Promise<string> {
  const res = await fetch(`${base}/price/${encodeURIComponent(order.orderNo)}`, {
    signal: ctx.signal,
    headers: { "Idempotency-Key": ctx.idempotencyKey },
  });
  // Any error here (service down, 5xx) is retried with backoff, then dead-lettered.
  if (!res.ok) throw new Error(`pricing service answered ${res.status}`);
  const { price } = (await res.json()) as { price: number };
  ctx.setHeader("Orderflow-Price", String(price));
  ctx.logger.debug({ price }, "priced");
  return `${order.orderNo},processed`;
}
