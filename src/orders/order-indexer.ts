import { type JsMsg, jetstreamManager } from "@nats-io/jetstream";
import {
  type Msg,
  type NatsConnection,
  PermissionViolationError,
  type Subscription,
} from "@nats-io/nats-core";
import { errorMessage } from "../common/errors.js";
import { type Logger, silentLogger } from "../common/logger.js";
import { streamInfo } from "../topology/read.js";
import { Stage, type TopologyOptions } from "../topology/spec.js";
import { type IndexLookupReply, IndexLookupRequest, isInboxReply } from "./index-protocol.js";
import { type OrderIndexerOptions, orderIndexerOptions } from "./lookup-options.js";
import { OrderIndex } from "./order-index.js";
import { orderKeyOf, stageOfSubject } from "./order-key.js";
import { StreamReader } from "./stream-reader.js";

export interface OrderIndexerStats {
  orders: number;
  messages: number;
  /** Every message up to this stream sequence has been read. */
  indexedThrough: number;
  /** True once the index has read what the stream held when start() ran. */
  caughtUp: boolean;
}

interface Waiter {
  through: number;
  resolve: () => void;
}

/**
 * Keeps the order index (order number → stream sequences) and answers lookups over NATS
 * request/reply on `orderflow.index.lookup`, so `orderflow order` answers at once on any stream size.
 *
 * It reads the stream with a StreamReader (an ordered push consumer: ephemeral, no acks, delivered
 * below the connection's inbox prefix, so the read-only `monitor` user may run it): the pipeline pays
 * one extra delivery per message to this process and nothing else; nothing is written to the stream.
 * It answers only lookups whose reply subject is an inbox (see isInboxReply). Memory is about
 * 120 bytes per order (40 MB for 333k orders). On start it reads the whole stream (roughly a second
 * per hundred thousand messages), then follows new messages as they come.
 */
export class OrderIndexer {
  private readonly o: OrderIndexerOptions;
  private readonly logger: Logger;
  private readonly index = new OrderIndex();
  private through = 0;
  private startLastSeq = 0;
  private reader: StreamReader | undefined;
  private sub: Subscription | undefined;
  private waiters: Waiter[] = [];
  private stopping: Promise<void> | undefined;
  private startedAt = 0;
  private caughtUpLogged = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly topology: TopologyOptions,
    opts: Partial<OrderIndexerOptions> = {},
    deps: { logger?: Logger } = {},
  ) {
    this.o = orderIndexerOptions(opts);
    this.logger = deps.logger ?? silentLogger;
  }

  /** Starts reading the stream and answering lookups; fails with a one-line error if the stream is missing. */
  async start(): Promise<void> {
    if (this.reader) throw new Error("OrderIndexer already started");
    const t = this.topology;
    const si = await streamInfo(await jetstreamManager(this.nc), t);
    this.startLastSeq = si.state.last_seq;
    this.startedAt = Date.now();
    this.reader = await StreamReader.open(
      this.nc,
      t.stream,
      { fromSeq: 1, inboxPrefix: this.o.inboxPrefix },
      (m) => this.read(m),
    );
    this.watch(this.reader);
    this.watchRefusedAnswers();
    this.sub = this.nc.subscribe(this.o.subject, {
      queue: this.o.queueGroup,
      callback: (err, msg) => {
        if (err) {
          this.logger.error({ err, subject: this.o.subject }, "order index subscription failed");
          return;
        }
        this.answer(msg).catch((e: unknown) => this.logger.error({ err: e }, "order index lookup failed"));
      },
    });
    await this.nc.flush();
    this.logger.info(
      { stream: t.stream, lastSeq: this.startLastSeq, subject: this.o.subject },
      "order index started; reading the stream",
    );
    this.checkCaughtUp();
  }

  /** Resolves when the index has read everything the stream held at start(). */
  async ready(): Promise<void> {
    await this.waitThrough(this.startLastSeq, Number.POSITIVE_INFINITY);
  }

  stats(): OrderIndexerStats {
    return {
      orders: this.index.size,
      messages: this.index.messageCount,
      indexedThrough: this.through,
      caughtUp: this.through >= this.startLastSeq,
    };
  }

  /** Sequences of an order as far as the index has read (in-process use, e.g. tests and `up`). */
  lookup(orderNo: string): number[] {
    return this.index.lookup(orderNo);
  }

  /** Stops answering, then stops reading. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const problems: string[] = [];
      try {
        if (this.sub && !this.sub.isClosed()) await this.sub.drain();
      } catch (err) {
        problems.push(`lookup subscription: ${errorMessage(err)}`);
      }
      try {
        this.reader?.stop();
        // Else the server keeps the consumer for the 5-minute inactive_threshold nats.js gives it.
        const closed = this.nc.isClosed() ? await this.reader?.closed() : await this.reader?.close();
        if (closed instanceof Error) problems.push(`stream reader: ${closed.message}`);
      } catch (err) {
        problems.push(`stream reader: ${errorMessage(err)}`);
      }
      for (const w of this.waiters) w.resolve();
      this.waiters = [];
      if (problems.length > 0 && !this.nc.isClosed()) {
        throw new Error(`order index did not stop cleanly: ${problems.join("; ")}`);
      }
    })();
    return this.stopping;
  }

  private read(m: JsMsg): void {
    const stage = stageOfSubject(m.subject, this.topology.subjectPrefix);
    if (stage !== "other") {
      // Headers are parsed only for dead letters, the one stage whose key may live in them.
      const key = orderKeyOf(stage, m.data, stage === Stage.Failed ? m.headers : undefined);
      if (key !== undefined) this.index.add(key, stage, m.seq);
    }
    this.through = m.seq;
    if (this.waiters.length > 0) this.releaseWaiters();
    if (!this.caughtUpLogged) this.checkCaughtUp();
  }

  /**
   * The reader recovers by itself (the ordered consumer is recreated after a server restart), but an
   * operator should see it: a stream deleted and recreated under a running indexer restarts its
   * sequences, and the index then needs a restart of the indexer.
   */
  private watch(reader: StreamReader): void {
    void (async () => {
      for await (const s of reader.status()) {
        if (
          s.type === "stream_not_found" ||
          s.type === "consumer_deleted" ||
          s.type === "ordered_consumer_recreated"
        ) {
          this.logger.warn({ status: s.type, indexedThrough: this.through }, "order index reader notice");
        }
      }
    })().catch((err: unknown) => this.logger.error({ err }, "order index status watcher failed"));
    void reader.closed().then((err) => {
      // A closed connection is the caller's to report (the indexer command ends with it).
      if (!this.stopping && !this.nc.isClosed()) {
        this.logger.error(
          { err, indexedThrough: this.through },
          "order index stopped reading the stream; restart the indexer",
        );
      }
    });
  }

  /**
   * An answer is a plain publish to the asker's inbox: a user that may not publish there (the
   * `monitor` user answering an asker whose inbox prefix it is not allowed) is refused by the server
   * asynchronously, and only the connection status tells.
   */
  private watchRefusedAnswers(): void {
    void (async () => {
      for await (const s of this.nc.status()) {
        if (this.stopping) break;
        if (
          s.type === "error" &&
          s.error instanceof PermissionViolationError &&
          s.error.operation === "publish" &&
          isInboxReply(s.error.subject)
        ) {
          this.logger.warn(
            { reply: s.error.subject },
            "could not answer an order lookup: this user may not publish to the asker's inbox (see docs/reliability.md, monitor)",
          );
        }
      }
    })().catch((err: unknown) => this.logger.error({ err }, "order index connection watcher failed"));
  }

  private checkCaughtUp(): void {
    if (this.caughtUpLogged || this.through < this.startLastSeq) return;
    this.caughtUpLogged = true;
    this.logger.info(
      { orders: this.index.size, messages: this.index.messageCount, ms: Date.now() - this.startedAt },
      "order index caught up",
    );
  }

  private releaseWaiters(): void {
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (this.through >= w.through) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  /** Resolves once the index has read up to `through`, or after `maxMs`. */
  private waitThrough(through: number, maxMs: number): Promise<void> {
    if (this.through >= through || this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter: Waiter = {
        through,
        resolve: () => {
          if (timer) clearTimeout(timer);
          resolve();
        },
      };
      const timer = Number.isFinite(maxMs)
        ? setTimeout(() => {
            this.waiters = this.waiters.filter((w) => w !== waiter);
            resolve();
          }, maxMs)
        : undefined;
      this.waiters.push(waiter);
    });
  }

  private async answer(msg: Msg): Promise<void> {
    if (!msg.reply) {
      this.logger.warn({ subject: msg.subject }, "order index lookup had no reply subject");
      return;
    }
    if (!isInboxReply(msg.reply)) {
      this.logger.warn(
        { subject: msg.subject, reply: msg.reply },
        "order index lookup refused: its reply subject is not an _INBOX inbox",
      );
      return;
    }
    msg.respond(JSON.stringify(await this.reply(msg)));
  }

  private async reply(msg: Msg): Promise<IndexLookupReply> {
    let request: IndexLookupRequest;
    try {
      request = IndexLookupRequest.parse(msg.json());
    } catch (err) {
      return { error: `bad lookup request: ${errorMessage(err)}` };
    }
    await this.waitThrough(request.through, this.o.catchUpWaitMs);
    return {
      orderNo: request.orderNo,
      seqs: this.index.lookup(request.orderNo),
      indexedThrough: this.through,
      orders: this.index.size,
    };
  }
}
