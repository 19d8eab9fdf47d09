import { type JsMsg, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { CallbackGuard } from "../common/callback-guard.js";
import { AlreadyStartedError, errorMessage, StopError } from "../common/errors.js";
import { type Logger, silentLogger } from "../common/logger.js";
import { OTHER_STAGE, orderKeyOf, SEED_STEPS, stageOfSubject } from "../stages/order-key.js";
import { streamInfo } from "../topology/read.js";
import { Stage, stepsOf, type TopologyOptions } from "../topology/spec.js";
import { DiskOrderStore } from "./disk-order-store.js";
import { answerLookup, watchRefusedAnswers } from "./index-answers.js";
import { IndexBatchWriter } from "./index-batch-writer.js";
import type { IndexLookupReply, IndexLookupRequest } from "./index-protocol.js";
import { type OrderIndexerOptions, orderIndexerOptions } from "./lookup-options.js";
import { MemoryOrderStore } from "./memory-order-store.js";
import { type IndexEntry, indexSteps, MEMORY_INDEX, type OrderStore } from "./order-store.js";
import { ReadProgress } from "./read-progress.js";
import { StreamReader } from "./stream-reader.js";

/** The reader counts as idle (its end may have been deleted) after this long without a message. */
const IDLE_MS = 1_000;
/** How often the stream's identity and end are checked (deleted and recreated, purged). */
const STREAM_CHECK_MS = 2_000;

export interface OrderIndexerStats {
  orders: number;
  messages: number;
  /** Every message up to this stream sequence has been read. */
  indexedThrough: number;
  /** True once the index has read what the stream held when start() ran. */
  caughtUp: boolean;
  /** False once its stream reader stopped by itself (logged; the indexer then needs a restart). */
  reading: boolean;
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
  private readonly guard: CallbackGuard;
  private readonly store: OrderStore;
  private readonly writer: IndexBatchWriter;
  /** Reading paused until the pending messages are written (see this.o.pauseAtPending). */
  private paused = false;
  private lastReadAt = 0;
  /** When the stream was created: another value later means it was deleted and made anew. */
  private streamCreated = "";
  private checker: NodeJS.Timeout | undefined;
  private rebuilding: Promise<void> | undefined;
  private readonly progress = new ReadProgress();
  private startLastSeq = 0;
  private reader: StreamReader | undefined;
  private sub: Subscription | undefined;
  private readonly readyPromise: Promise<void>;
  private markReady!: () => void;
  private stopping: Promise<void> | undefined;
  private startedAt = 0;
  private caughtUpLogged = false;
  private readerFailed = false;
  /** The pipeline's steps (stepsOf), intake first: what a message is told by. */
  private readonly steps: readonly string[];

  constructor(
    private readonly nc: NatsConnection,
    private readonly topology: TopologyOptions,
    opts: Partial<OrderIndexerOptions> = {},
    deps: { logger?: Logger } = {},
  ) {
    this.o = orderIndexerOptions(opts);
    this.logger = deps.logger ?? silentLogger;
    this.guard = new CallbackGuard(this.logger);
    this.readyPromise = new Promise<void>((resolve) => {
      this.markReady = resolve;
    });
    this.steps = stepsOf(topology);
    this.store =
      this.o.indexDir === MEMORY_INDEX
        ? new MemoryOrderStore(this.steps)
        : new DiskOrderStore(this.o.indexDir, this.steps);
    this.writer = new IndexBatchWriter(this.store, this.o, () => this.streamCreated, this.logger, {
      written: (through, end) => {
        this.progress.advance(through);
        if (end) this.markReadThroughEnd();
        this.progress.release();
        if (!this.caughtUpLogged) this.checkCaughtUp();
      },
      drained: () => {
        if (this.paused) this.resume();
      },
      stopping: () => this.stopping !== undefined,
    });
  }

  /** Starts reading the stream and answering lookups; fails with a one-line error if the stream is missing. */
  async start(): Promise<void> {
    if (this.reader) throw new AlreadyStartedError("OrderIndexer");
    const t = this.topology;
    const si = await streamInfo(await jetstreamManager(this.nc), t);
    // An empty stream (purged, or every message deleted) has nothing to read, whatever last_seq says.
    this.startLastSeq = si.state.messages === 0 ? 0 : si.state.last_seq;
    this.streamCreated = String(si.created);
    this.startedAt = Date.now();
    const checkpoint = await this.store.open();
    // An index written before its step table was kept is the seed's.
    const builtFor = checkpoint ? indexSteps(checkpoint.steps ?? SEED_STEPS) : [];
    const table = indexSteps(this.steps);
    const samePipeline = builtFor.length === table.length && builtFor.every((s, i) => s === table[i]);
    if (checkpoint && !samePipeline) {
      this.logger.warn(
        {
          store: this.store.description,
          indexedThrough: checkpoint.through,
          builtFor: builtFor.slice(0, -1),
          steps: this.steps,
        },
        "the order index on disk was built for another pipeline (other steps); rebuilding it",
      );
      await this.store.clear();
    } else if (
      checkpoint &&
      checkpoint.streamCreated === this.streamCreated &&
      checkpoint.through <= si.state.last_seq
    ) {
      this.progress.advance(checkpoint.through);
      this.writer.resetTo(checkpoint.through);
      this.logger.info(
        { store: this.store.description, indexedThrough: this.progress.through, ...this.store.counts() },
        "order index resumed from its store",
      );
    } else if (checkpoint) {
      this.logger.warn(
        { store: this.store.description, indexedThrough: checkpoint.through },
        "the order index on disk belongs to an older stream (deleted and created anew); rebuilding it",
      );
      await this.store.clear();
    }
    await this.openReader(this.progress.through + 1);
    this.checker = setInterval(
      () => this.checkStream().catch((err: unknown) => this.guard.report("order index stream check", err)),
      STREAM_CHECK_MS,
    );
    this.checker.unref();
    watchRefusedAnswers(this.nc, this.logger, () => this.stopping !== undefined);
    this.sub = this.nc.subscribe(this.o.subject, {
      queue: this.o.queueGroup,
      callback: (err, msg) => {
        if (err) {
          this.logger.error({ err, subject: this.o.subject }, "order index subscription failed");
          return;
        }
        answerLookup(msg, this.logger, (r) => this.reply(r)).catch((e: unknown) =>
          this.logger.error({ err: e }, "order index lookup failed"),
        );
      },
    });
    await this.nc.flush();
    this.logger.info(
      { stream: t.stream, lastSeq: this.startLastSeq, subject: this.o.subject },
      "order index started; reading the stream",
    );
    this.checkCaughtUp();
  }

  /**
   * Resolves when the index has read everything the stream held at start(), or what is left of it:
   * the target moves down when messages at the end turn out deleted, so it is not a fixed sequence.
   */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  stats(): OrderIndexerStats {
    const c = this.store.counts();
    return {
      orders: c.orders,
      messages: c.messages,
      indexedThrough: this.progress.through,
      caughtUp: this.progress.through >= this.startLastSeq,
      reading: !this.readerFailed,
    };
  }

  /** Sequences of an order as far as the index has written (in-process use, e.g. tests and `up`). */
  async lookup(orderNo: string): Promise<number[]> {
    return (await this.store.lookup(orderNo)).map((m) => m.seq);
  }

  private async openReader(fromSeq: number): Promise<void> {
    this.reader = await StreamReader.open(
      this.nc,
      this.topology.stream,
      { fromSeq, inboxPrefix: this.o.inboxPrefix },
      (m) => this.read(m),
    );
    this.watch(this.reader);
  }

  /**
   * Notices what the reader cannot: a stream deleted and created anew (its sequences restart, and
   * the reader would wait past the old ones forever: new orders never found), and messages deleted
   * or purged at the end (the sequence ready() waits for never comes).
   */
  private async checkStream(): Promise<void> {
    if (this.stopping || this.rebuilding || this.nc.isClosed()) return;
    let si: Awaited<ReturnType<typeof streamInfo>>;
    let jsm: Awaited<ReturnType<typeof jetstreamManager>>;
    try {
      jsm = await jetstreamManager(this.nc);
      si = await streamInfo(jsm, this.topology);
    } catch (err) {
      this.logger.warn({ err: errorMessage(err) }, "order index cannot read the stream's state");
      return;
    }
    if (String(si.created) !== this.streamCreated) {
      this.logger.warn(
        { stream: this.topology.stream, indexedThrough: this.progress.through },
        "the stream was deleted and created anew; rebuilding the order index from its start",
      );
      this.streamCreated = String(si.created);
      this.startLastSeq = si.state.messages === 0 ? 0 : si.state.last_seq;
      this.rebuilding = this.rebuild().finally(() => {
        this.rebuilding = undefined;
      });
      await this.rebuilding;
      return;
    }
    if (si.state.messages === 0 || si.state.last_seq <= this.progress.through) {
      this.markReadThroughEnd();
      return;
    }
    // Messages deleted at the end leave last_seq where it was (and 2.9 may go on counting them
    // as pending for the reader): the stream's list of deleted sequences says whether anything
    // after what was read still exists.
    if (this.startLastSeq > this.progress.through && !this.paused && Date.now() - this.lastReadAt > IDLE_MS) {
      const detail = await jsm.streams.info(this.topology.stream, { deleted_details: true });
      const last = detail.state.last_seq;
      const gone = (detail.state.deleted ?? []).filter(
        (seq) => seq > this.progress.through && seq <= last,
      ).length;
      if (gone === last - this.progress.through) this.markReadThroughEnd();
    }
  }

  private async rebuild(): Promise<void> {
    const old = this.reader;
    old?.stop();
    this.paused = false;
    await this.writer.settle();
    this.writer.resetTo(0);
    await this.store.clear();
    this.progress.reset();
    this.caughtUpLogged = false;
    await old
      ?.close()
      .catch((err: unknown) =>
        this.logger.warn({ err: errorMessage(err) }, "could not delete the old stream reader"),
      );
    await this.openReader(1);
    this.checkCaughtUp();
  }

  /** Everything the stream holds has been read: what ready() waited for beyond it was deleted. */
  private markReadThroughEnd(): void {
    if (this.startLastSeq > this.progress.through) {
      this.startLastSeq = this.progress.through;
      this.checkCaughtUp();
    }
    this.progress.release();
  }

  /** Stops answering, then stops reading. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.checker);
      await this.rebuilding;
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
      await this.writer.settle();
      // What was read is kept: the next start resumes after it rather than reading it again.
      await this.writer.flush();
      try {
        await this.store.close();
      } catch (err) {
        problems.push(`index store: ${errorMessage(err)}`);
      }
      this.progress.releaseAll();
      this.markReady();
      if (problems.length > 0 && !this.nc.isClosed()) {
        throw new StopError("order index", problems.join("; "));
      }
    })();
    return this.stopping;
  }

  private read(m: JsMsg): void {
    if (m.seq <= this.writer.lastRead) return; // already read (a reader restarted behind the checkpoint)
    const stage = stageOfSubject(m.subject, this.topology.subjectPrefix, this.steps);
    let entry: IndexEntry | undefined;
    if (stage !== OTHER_STAGE) {
      // Headers are parsed only for dead letters, the one stage whose key may live in them.
      const key = orderKeyOf(stage, m.data, stage === Stage.Failed ? m.headers : undefined, this.steps);
      if (key !== undefined) entry = { key, stage, seq: m.seq };
    }
    // pending 0: nothing left after this one (what start() saw at the end was deleted meanwhile).
    this.writer.add(entry, m.seq, m.info.pending === 0);
    this.lastReadAt = Date.now();
    if (this.writer.unwritten >= this.o.pauseAtPending && !this.paused) this.pause();
  }

  private pause(): void {
    this.paused = true;
    const reader = this.reader;
    // Unset first: the reader's watcher then knows this close is on purpose.
    this.reader = undefined;
    reader?.stop();
    reader
      ?.close()
      .catch((err: unknown) =>
        this.logger.warn({ err: errorMessage(err) }, "could not delete a paused stream reader"),
      );
    this.logger.debug(
      { readSeq: this.writer.lastRead, pending: this.writer.unwritten },
      "order index paused reading until its writes catch up",
    );
  }

  private resume(): void {
    if (this.stopping || this.rebuilding) return;
    this.openReader(this.writer.lastRead + 1).then(
      () => {
        this.paused = false;
        if (this.writer.unwritten >= this.o.pauseAtPending) this.pause();
      },
      (err: unknown) => {
        this.logger.warn({ err: errorMessage(err) }, "order index could not resume reading; trying again");
        setTimeout(() => this.resume(), 1_000).unref();
      },
    );
  }

  /**
   * The reader recovers by itself (the ordered consumer is recreated after a server restart), but an
   * operator should see it: a stream deleted and recreated under a running indexer restarts its
   * sequences, and the index then needs a restart of the indexer.
   */
  private watch(reader: StreamReader): void {
    reader.logNotices(this.logger, () => ({ indexedThrough: this.progress.through }));
    void reader.closed().then((err) => {
      // A closed connection is the caller's to report (the indexer command ends with it).
      // A reader replaced by rebuild() is closed on purpose.
      if (!this.stopping && !this.nc.isClosed() && reader === this.reader) {
        this.readerFailed = true;
        this.logger.error(
          { err, indexedThrough: this.progress.through },
          "order index stopped reading the stream; restart the indexer",
        );
      }
    });
  }

  private checkCaughtUp(): void {
    if (this.caughtUpLogged || this.progress.through < this.startLastSeq) return;
    this.caughtUpLogged = true;
    this.markReady();
    this.logger.info(
      { ...this.store.counts(), store: this.store.description, ms: Date.now() - this.startedAt },
      "order index caught up",
    );
  }

  /** Resolves once the index has written up to `through`, or after `maxMs`. */
  private waitThrough(through: number, maxMs: number): Promise<void> {
    return this.stopping ? Promise.resolve() : this.progress.waitThrough(through, maxMs);
  }

  /** The answer to one lookup: the order's messages as far as the index has written. */
  private async reply(request: IndexLookupRequest): Promise<IndexLookupReply> {
    await this.waitThrough(request.through, this.o.catchUpWaitMs);
    // Read before the lookup: what it reports covered is then at most what the lookup saw.
    const indexedThrough = this.progress.through;
    const messages = await this.store.lookup(request.orderNo);
    return {
      orderNo: request.orderNo,
      seqs: messages.map((m) => m.seq),
      stages: messages.map((m) => m.stage),
      steps: [...this.steps],
      indexedThrough,
      orders: this.store.counts().orders,
    };
  }
}
