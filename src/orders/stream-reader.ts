import {
  type ConsumerMessages,
  type ConsumerNotification,
  type JsMsg,
  jetstream,
  type PushConsumer,
} from "@nats-io/jetstream";
import { createInbox, type NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "../common/logger.js";

export interface StreamReaderOptions {
  /** First stream sequence to deliver. */
  fromSeq: number;
  /**
   * Reply-inbox prefix of the connection: messages are delivered to `<prefix>.<random>.<n>`, below
   * the prefix a least-privilege user may subscribe to (`--inbox-prefix`).
   */
  inboxPrefix: string | undefined;
  /** Only this subject; default every subject of the stream. */
  subject?: string;
}

/**
 * Reads a stream in order from a sequence on, once, for an in-process reader (the order index, a
 * scan): an ordered push consumer (ephemeral, no acks, nothing written to the stream) delivering
 * below the connection's inbox prefix, recreated by the client after a gap or a lost consumer.
 *
 * Push rather than pull so that a read-only user can be allowed to do it (deploy/nats-server.conf,
 * `monitor`): a pull consumer needs `$JS.API.CONSUMER.MSG.NEXT.<stream>.<random name>`, which no
 * permission can grant without also granting pulls from the pipeline's NEW and DISPATCH (subject
 * wildcards match whole tokens). A push reader needs `$JS.API.CONSUMER.CREATE.<stream>.<name>`
 * (the pipeline's names can be denied), `$JS.FC.<stream>.*.*` for flow control, subscribe on its
 * inbox prefix, and `$JS.API.CONSUMER.DELETE.<stream>.<name>` to clean up at once: nats.js gives
 * its ordered consumers a fixed 5-minute inactive_threshold, so without the delete every reader
 * would stay on the server that long.
 *
 * `visit` runs synchronously for each message, which also answers flow control without waiting
 * behind queued messages; a throw from it stops the reader (closed() resolves with the error).
 */
export class StreamReader {
  private done = false;

  private constructor(
    private readonly consumer: PushConsumer,
    private readonly messages: ConsumerMessages,
  ) {}

  static async open(
    nc: NatsConnection,
    stream: string,
    opts: StreamReaderOptions,
    visit: (m: JsMsg) => void,
  ): Promise<StreamReader> {
    const consumer = await jetstream(nc).consumers.getPushConsumer(stream, {
      deliver_prefix: createInbox(opts.inboxPrefix),
      opt_start_seq: opts.fromSeq,
      ...(opts.subject === undefined ? {} : { filter_subjects: opts.subject }),
    });
    let reader: StreamReader | undefined;
    const messages = await consumer.consume({
      // Messages already on the way when the reader stops are dropped here, not visited.
      callback: (m) => {
        if (!reader?.done) visit(m);
      },
    });
    reader = new StreamReader(consumer, messages);
    return reader;
  }

  /** The consumer's notifications: resets (`ordered_consumer_recreated`), missed heartbeats, … */
  status(): AsyncIterable<ConsumerNotification> {
    return this.messages.status();
  }

  /**
   * Logs what an operator should see although the reader recovers by itself: its stream gone, its
   * consumer deleted or recreated (after a server restart, or a stream made anew under it).
   */
  logNotices(logger: Logger, context: () => Record<string, unknown>): void {
    void (async () => {
      for await (const s of this.status()) {
        if (
          s.type === "stream_not_found" ||
          s.type === "consumer_deleted" ||
          s.type === "ordered_consumer_recreated"
        ) {
          logger.warn({ status: s.type, ...context() }, "order index reader notice");
        }
      }
    })().catch((err: unknown) => logger.error({ err }, "order index status watcher failed"));
  }

  /** Resolves when the reader has stopped: by stop()/close(), or with the error that stopped it. */
  async closed(): Promise<Error | undefined> {
    const err = await this.messages.closed();
    return err instanceof Error ? err : undefined;
  }

  /** Stops delivering to `visit` at once (safe to call from inside it); close() cleans up. */
  stop(): void {
    if (this.done) return;
    this.done = true;
    this.messages.stop();
  }

  /** Stops reading and deletes the consumer; resolves with the error that had stopped the reader, if any. */
  async close(): Promise<Error | undefined> {
    this.stop();
    const err = await this.messages.close();
    await this.consumer.delete();
    return err instanceof Error ? err : undefined;
  }
}
