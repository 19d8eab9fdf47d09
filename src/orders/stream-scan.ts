import type { JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { type Logger, silentLogger } from "../common/logger.js";
import { StreamReader } from "./stream-reader.js";

/** A scan that has received nothing for this long has read all there is (the rest was deleted). */
const IDLE_END_MS = 2_000;

export interface ScanRange {
  /** First stream sequence to read. */
  from: number;
  /** Last stream sequence to read. */
  to: number;
}

/**
 * Reads stream messages `from..to` once with a StreamReader (ordered push consumer delivering below
 * `inboxPrefix`), calling `visit` for each. Returns how many it read.
 */
export async function scanStream(
  nc: NatsConnection,
  stream: string,
  range: ScanRange,
  visit: (m: JsMsg) => void,
  {
    inboxPrefix,
    signal,
    logger = silentLogger,
  }: { inboxPrefix: string; signal?: AbortSignal; logger?: Logger },
): Promise<number> {
  if (range.from > range.to) return 0;
  let count = 0;
  let idle: NodeJS.Timeout | undefined;
  let resolveEnded: () => void = () => undefined;
  const ended = new Promise<void>((resolve) => {
    resolveEnded = resolve;
  });
  // Stops the reader at once: more messages can arrive in the same socket read as the last one.
  const end = () => {
    reader?.stop();
    resolveEnded();
  };
  const touch = () => {
    if (idle) clearTimeout(idle);
    idle = setTimeout(end, IDLE_END_MS);
  };
  let reader: StreamReader | undefined;
  reader = await StreamReader.open(nc, stream, { fromSeq: range.from, inboxPrefix }, (m) => {
    if (m.seq > range.to) {
      end();
      return;
    }
    visit(m);
    count++;
    if (m.seq >= range.to || m.info.pending === 0) end();
    else touch();
  });
  if (signal?.aborted) end();
  signal?.addEventListener("abort", end, { once: true });
  touch();
  let stoppedBy: Error | undefined;
  try {
    // A reader stopped by an error (a throwing visit) ends the scan with that error.
    stoppedBy = await Promise.race([ended.then(() => undefined), reader.closed()]);
  } finally {
    if (idle) clearTimeout(idle);
    signal?.removeEventListener("abort", end);
    // Else the server keeps the consumer for the 5-minute inactive_threshold nats.js gives it.
    await reader
      .close()
      .catch((err: unknown) => logger.warn({ err, stream }, "could not delete the scan consumer"));
  }
  if (stoppedBy) throw stoppedBy;
  return count;
}
