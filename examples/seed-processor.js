/**
 * The seed's order-processed transformation as a handler module: `<payload>` → `<payload>,processed`,
 * byte for byte (the input's bytes, not its decoded text, so any payload the built-in accepts comes
 * out the same). For `orderflow bench --processor-handler examples/seed-processor.js --compare-built-in`:
 * what running your code through a module costs over the built-in stage.
 *
 * Synchronous on purpose: the built-in is too, and an async function would add a promise per order.
 */
const SUFFIX = new TextEncoder().encode(",processed");

export default function seedProcessor(order) {
  const out = new Uint8Array(order.data.length + SUFFIX.length);
  out.set(order.data, 0);
  out.set(SUFFIX, order.data.length);
  return out;
}
