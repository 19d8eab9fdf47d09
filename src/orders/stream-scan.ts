import { type JsMsg, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { type Logger, silentLogger } from "../common/logger.js";

/** A scan that has received nothing for this long has read all there is (the rest was deleted). */
const IDLE_END_MS = 2_000;

export interface ScanRange {
  /** First stream sequence to read. */
  from: number;
  /** Last stream sequence to read. */
  to: number;
}

/**
 * Reads stream messages `from..to` once, with an ordered consumer (ephemeral, in server memory, no
 * acks, nothing written to the stream), calling `visit` for each. Returns how many it read.
 */
export async function scanStream(
  nc: NatsConnection,
  stream: string,
  range: ScanRange,
  visit: (m: JsMsg) => void,
  { signal, logger = silentLogger }: { signal?: AbortSignal; logger?: Logger } = {},
): Promise<number> {
  if (range.from > range.to) return 0;
  const consumer = await jetstream(nc).consumers.get(stream, { opt_start_seq: range.from });
  const messages = await consumer.consume({ max_messages: 1000 });
  let idle: NodeJS.Timeout | undefined;
  const end = () => {
    messages.stop();
  };
  const touch = () => {
    if (idle) clearTimeout(idle);
    idle = setTimeout(end, IDLE_END_MS);
  };
  signal?.addEventListener("abort", end, { once: true });
  let count = 0;
  touch();
  try {
    for await (const m of messages) {
      if (m.seq > range.to) break;
      visit(m);
      count++;
      if (m.seq >= range.to || m.info.pending === 0) break;
      touch();
    }
  } finally {
    if (idle) clearTimeout(idle);
    signal?.removeEventListener("abort", end);
    await messages.close();
    // The server would keep the ephemeral consumer for its 5-minute inactivity threshold.
    await consumer
      .delete()
      .catch((err: unknown) => logger.warn({ err, stream }, "could not delete the scan consumer"));
  }
  return count;
}
