import type { PipelineConfig } from "orderflow";

/**
 * A shop's order flow: five stages on the seed's stream, orders entering at ORDERS.received as in
 * the seed. Run it with `orderflow up --config examples/shop/orderflow.config.ts`.
 */
export default {
  stream: { name: "ORDERS", subjectPrefix: "ORDERS" },
  stages: [
    {
      name: "validator",
      consumer: "VALIDATE",
      input: "received",
      output: "validated",
      handler: "./validate.ts",
    },
    {
      name: "reserver",
      consumer: "RESERVE",
      input: "validated",
      output: "reserved",
      handler: "./reserve.ts",
    },
    {
      name: "payer",
      consumer: "PAY",
      input: "reserved",
      output: "paid",
      handler: "./pay.ts",
      // The payment provider allows 200 calls a second and answers within seconds.
      rateLimit: "200/s",
      timeout: "10s",
      attempts: 3,
    },
    { name: "shipper", consumer: "SHIP", input: "paid", output: "shipped", handler: "./ship.ts" },
    { name: "completer", consumer: "COMPLETE", input: "shipped", output: "completed" },
  ],
  monitor: { consumer: "MONITOR", deliverSubject: "monitor.ORDERS" },
} satisfies PipelineConfig;
