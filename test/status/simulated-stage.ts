import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { onTestFinished } from "vitest";
import { sleep } from "../helpers/wait.js";

/**
 * A stand-in for a seed stage worker, enough for status to see one: pulls from NEW or DISPATCH,
 * publishes `<order>,processed` or `<order>,completed` and acks, optionally slowly.
 */
export function simulateStage(
  nc: NatsConnection,
  consumer: "NEW" | "DISPATCH",
  options: { delayMs?: number; batch?: number } = {},
): Promise<{ stop(): Promise<void> }> {
  return simulatePipelineStage(nc, consumer, consumer === "NEW" ? "processed" : "completed", options);
}

/**
 * A stand-in for any declared stage: pulls from `consumer`, publishes `<order>,<output>` on
 * `ORDERS.<output>` with the id `<order>:<output>` and acks, optionally slowly.
 */
export async function simulatePipelineStage(
  nc: NatsConnection,
  consumer: string,
  output: string,
  { delayMs = 0, batch = 100 } = {},
): Promise<{ stop(): Promise<void> }> {
  const js = jetstream(nc);
  const messages = await (await js.consumers.get("ORDERS", consumer)).consume({ max_messages: batch });
  const done = (async () => {
    for await (const m of messages) {
      if (delayMs > 0) await sleep(delayMs);
      const order = m.string().split(",")[0] as string;
      await js.publish(`ORDERS.${output}`, `${order},${output}`, { msgID: `${order}:${output}` });
      m.ack();
    }
  })();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await messages.close();
    await done;
  };
  onTestFinished(stop);
  return { stop };
}
