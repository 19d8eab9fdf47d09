import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { onTestFinished } from "vitest";
import { sleep } from "../helpers/wait.js";

/**
 * A stand-in for a stage worker, enough for status to see one: pulls from a durable consumer,
 * publishes `<order>,<stage>` and acks, optionally slowly.
 */
export async function simulateStage(
  nc: NatsConnection,
  consumer: "NEW" | "DISPATCH",
  { delayMs = 0, batch = 100 } = {},
): Promise<{ stop(): Promise<void> }> {
  const js = jetstream(nc);
  const c = await js.consumers.get("ORDERS", consumer);
  const messages = await c.consume({ max_messages: batch });
  const done = (async () => {
    for await (const m of messages) {
      if (delayMs > 0) await sleep(delayMs);
      const order = m.string().split(",")[0] as string;
      const [subject, body] =
        consumer === "NEW"
          ? ["ORDERS.processed", `${order},processed`]
          : ["ORDERS.completed", `${order},completed`];
      await js.publish(subject, body, { msgID: `${order}:${subject.split(".")[1]}` });
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

/**
 * A stand-in for any declared stage: pulls from `consumer`, publishes `<order>,<output>` on
 * `ORDERS.<output>` and acks.
 */
export async function simulatePipelineStage(
  nc: NatsConnection,
  consumer: string,
  output: string,
): Promise<{ stop(): Promise<void> }> {
  const js = jetstream(nc);
  const messages = await (await js.consumers.get("ORDERS", consumer)).consume({ max_messages: 100 });
  const done = (async () => {
    for await (const m of messages) {
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
