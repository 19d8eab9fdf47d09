import type { JetStreamClient, JetStreamPublishOptions, PubAck } from "@nats-io/jetstream";
import { NatsFailure, natsFailure } from "./nats-errors.js";
import { sleepUnlessAborted } from "./sleep.js";

/** How long a publish keeps being retried while the stream answers "later", by default. */
const RETRY_LATER_BUDGET_MS = 30_000;

/**
 * `js.publish()` awaiting its PubAck, published again (same data, same Nats-Msg-Id) while the
 * stream answers "try again later" (429 over its ingest buffer, 10158 a duplicate still being
 * stored: nats-server 2.11+). Backs off from 25 ms to 1 s; after `budgetMs` the last refusal is
 * thrown. Every other failure is thrown at once. The Nats-Msg-Id makes a retry of a publish that
 * was stored after all a duplicate, never a second copy.
 */
export async function publishStored(
  js: JetStreamClient,
  subject: string,
  data: Uint8Array,
  options: Partial<JetStreamPublishOptions> = {},
  { budgetMs = RETRY_LATER_BUDGET_MS, signal }: { budgetMs?: number; signal?: AbortSignal } = {},
): Promise<PubAck> {
  const deadline = Date.now() + budgetMs;
  for (let pause = 25; ; pause = Math.min(pause * 2, 1_000)) {
    try {
      return await js.publish(subject, data, options);
    } catch (err) {
      if (natsFailure(err) !== NatsFailure.Busy || Date.now() + pause > deadline || signal?.aborted)
        throw err;
      await sleepUnlessAborted(pause, signal);
    }
  }
}
