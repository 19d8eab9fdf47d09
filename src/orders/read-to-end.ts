import { type JsMsg, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { type Logger, silentLogger } from "../common/logger.js";
import { StreamReader } from "./stream-reader.js";

/** A read that has received nothing for this long has read all there is (the rest was deleted). */
const IDLE_END_MS = 2_000;

/** How to reach the stream: every reader delivers below the connection's own inbox prefix. */
export interface StreamAccess {
  /**
   * The connection's reply-inbox prefix as given to connect (`--inbox-prefix`; undefined: the
   * client's `_INBOX`): a least-privilege user may subscribe only below its own.
   */
  inboxPrefix: string | undefined;
}

export interface ReadToEndOptions extends StreamAccess {
  /** Only this subject; default every subject of the stream. */
  subject?: string;
  /** First stream sequence to read; default 1. */
  fromSeq?: number;
  /** Last stream sequence to read; default the stream's last sequence when the read starts. */
  toSeq?: number;
  /** Stop after this many messages; default no limit. */
  limit?: number;
  /** Ends the read early; what was read so far counts. */
  signal?: AbortSignal;
  logger?: Logger;
}

/**
 * Reads a stream, or one subject of it, from a sequence to its end, once, calling `visit` for each
 * message in order; resolves with how many it read. The one way every reader here reads to an end:
 * the order lookup's scan, the dead-letter listing and replay, the dashboard's dead-letter panel.
 *
 * Through a StreamReader (an ordered push consumer below the connection's inbox prefix, deleted when
 * done), so a read-only user can read too. The end is the stream's last sequence when the read
 * starts (messages stored meanwhile are not waited for), or the first message with nothing pending
 * after it, or `limit`; messages deleted under the read never arrive, so 2 s with nothing ends it.
 * A throw from `visit` ends the read with that error.
 */
export async function readToEnd(
  nc: NatsConnection,
  stream: string,
  o: ReadToEndOptions,
  visit: (m: JsMsg) => void,
): Promise<number> {
  const fromSeq = Math.max(1, o.fromSeq ?? 1);
  const toSeq = o.subject !== undefined || o.toSeq === undefined ? await lastToRead(nc, stream, o) : o.toSeq;
  if (fromSeq > toSeq || o.limit === 0 || o.signal?.aborted) return 0;
  const logger = o.logger ?? silentLogger;
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
  reader = await StreamReader.open(
    nc,
    stream,
    { fromSeq, inboxPrefix: o.inboxPrefix, subject: o.subject },
    (m) => {
      if (m.seq > toSeq) {
        end();
        return;
      }
      visit(m);
      count++;
      if (m.seq >= toSeq || m.info.pending === 0 || count === o.limit) end();
      else touch();
    },
  );
  o.signal?.addEventListener("abort", end, { once: true });
  touch();
  let stoppedBy: Error | undefined;
  try {
    stoppedBy = await Promise.race([ended.then(() => undefined), reader.closed()]);
  } finally {
    if (idle) clearTimeout(idle);
    o.signal?.removeEventListener("abort", end);
    // Else the server keeps the consumer for the 5-minute inactive_threshold nats.js gives it.
    await reader
      .close()
      .catch((err: unknown) => logger.warn({ err, stream }, "could not delete the stream reader's consumer"));
  }
  if (stoppedBy) throw stoppedBy;
  return count;
}

/** The last sequence to read, from the stream's state now; 0 when the subject holds nothing. */
async function lastToRead(nc: NatsConnection, stream: string, o: ReadToEndOptions): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const si = await jsm.streams.info(stream, o.subject ? { subjects_filter: o.subject } : undefined);
  const stored = o.subject ? (si.state.subjects?.[o.subject] ?? 0) : si.state.messages;
  if (stored === 0) return 0;
  return Math.min(o.toSeq ?? si.state.last_seq, si.state.last_seq);
}
