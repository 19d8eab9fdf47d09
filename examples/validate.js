/**
 * A processor handler in plain JavaScript that only lets numeric order numbers through.
 *
 *   orderflow worker processor --handler examples/validate.js
 *
 * An InvalidOrderError dead-letters the order at once (reason `not-numeric` in ORDERS.failed);
 * anything else thrown would be retried.
 */
import { InvalidOrderError } from "orderflow";

export default async function validate(order) {
  if (!/^[0-9]+$/.test(order.orderNo)) {
    throw new InvalidOrderError("not-numeric", `order number "${order.orderNo}" is not numeric`);
  }
  return `${order.orderNo},processed`;
}
