import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { readDelivery } from "../common/ack-subject.js";
import { CallbackGuard } from "../common/callback-guard.js";
import { AlreadyStartedError, errorMessage, StopError, TopologyError } from "../common/errors.js";
import { type Logger, silentLogger } from "../common/logger.js";
import type { StageOrOther } from "../stages/order-key.js";
import { requireConsumer, streamInfo } from "../topology/read.js";
import { stepsOf, type TopologyOptions } from "../topology/spec.js";
import { type OrderEvent, toOrderEvent } from "./order-event.js";

export interface MonitorFeedOptions {
  /** Only these stages are emitted; default all (also `other` subjects). */
  stages?: readonly StageOrOther[];
  /**
   * Of the backlog MONITOR kept while nobody watched (its pending events when the feed starts),
   * only the newest this many are emitted; the rest are skipped unread and counted. Default 100;
   * `Infinity` keeps the whole backlog.
   */
  backlogKeep?: number;
  logger?: Logger;
}

const DEFAULT_BACKLOG_KEEP = 100;

export type OrderEventListener = (event: OrderEvent) => void;

export interface MonitorFeedStats {
  /** Events emitted (after the stage filter). */
  events: number;
  /** Events dropped by the stage filter. */
  filtered: number;
  /** Messages on the monitor subject that were not JetStream deliveries. */
  ignored: number;
  /**
   * Events that could not be read (e.g. a header name the nats CLI and Go clients accept but the
   * JS decoder rejects: a space, non-ASCII); skipped.
   */
  unreadable: number;
  /** Events from before the feed started (the backlog nobody watched), skipped unread. */
  backlogSkipped: number;
  /**
   * Events that never reached this watcher (gaps in the stream sequence: dropped while it was
   * disconnected as a slow consumer, or sent to another subscriber). MONITOR is at-most-once.
   */
  missed: number;
}

/**
 * Typed order events from the seed's MONITOR push consumer, for any number of watchers at once.
 *
 * The push consumer publishes every event as a core NATS message to its deliver subject
 * (`monitor.ORDERS`), so a plain core subscription sees every event, exactly like the seed's
 * `nats sub monitor.ORDERS`, and any number of them can run side by side. The client's bound
 * push-consumer API would allow one subscriber only. Stream sequence and stored time come from the
 * reply subject of each delivery.
 *
 * MONITOR is at-most-once with one shared position: while nobody listens, events wait in the
 * consumer and go to the next listener; a watcher that joins later sees events from then on.
 * Never count outcomes from this feed; count from the stream (status/collect.ts).
 */
export class MonitorFeed {
  private readonly listeners = new Set<OrderEventListener>();
  private readonly stages: ReadonlySet<StageOrOther> | undefined;
  private readonly logger: Logger;
  private readonly guard: CallbackGuard;
  private sub: Subscription | undefined;
  private stopping: Promise<void> | undefined;
  private readonly counters: MonitorFeedStats = {
    events: 0,
    filtered: 0,
    ignored: 0,
    unreadable: 0,
    backlogSkipped: 0,
    missed: 0,
  };
  private deliverSubject: string;
  private readonly backlogKeep: number;
  /** Events up to this stream sequence are the old backlog. */
  private skipThrough = 0;
  private lastSeq = 0;
  private backlogReported = false;
  private readonly delivery = { deliveryCount: 0, streamSeq: 0 };
  /** The pipeline's steps, read once: every event is told by them. */
  private readonly steps: readonly string[];

  constructor(
    private readonly nc: NatsConnection,
    private readonly topology: TopologyOptions,
    opts: MonitorFeedOptions = {},
  ) {
    this.stages = opts.stages && opts.stages.length > 0 ? new Set(opts.stages) : undefined;
    this.logger = opts.logger ?? silentLogger;
    this.guard = new CallbackGuard(this.logger);
    this.deliverSubject = topology.monitorSubject;
    this.backlogKeep = opts.backlogKeep ?? DEFAULT_BACKLOG_KEEP;
    this.steps = stepsOf(topology);
  }

  /** The subject being watched (the MONITOR consumer's deliver subject). */
  get subject(): string {
    return this.deliverSubject;
  }

  /**
   * Checks that the stream and the MONITOR push consumer exist, then subscribes to the consumer's
   * own deliver subject (so a MONITOR made with another target still works).
   */
  async start(): Promise<void> {
    if (this.sub) throw new AlreadyStartedError("MonitorFeed");
    const t = this.topology;
    const jsm = await jetstreamManager(this.nc);
    await streamInfo(jsm, t);
    const ci = await requireConsumer(jsm, t.stream, t.monitorConsumer);
    if (!ci.config.deliver_subject) {
      throw new TopologyError(`consumer ${t.stream} > ${t.monitorConsumer} is a pull consumer`, {
        hint: "MONITOR must push to a deliver subject (monitor.ORDERS); recreate it with `orderflow setup`",
      });
    }
    this.deliverSubject = ci.config.deliver_subject;
    if (ci.num_pending > this.backlogKeep) {
      // MONITOR delivers every subject of the stream, so its backlog ends at delivered + pending.
      this.skipThrough = ci.delivered.stream_seq + ci.num_pending - this.backlogKeep;
      this.logger.info(
        { pending: ci.num_pending, keep: this.backlogKeep },
        "MONITOR holds events from while nobody watched; skipping all but the newest",
      );
    }
    this.sub = this.nc.subscribe(this.deliverSubject, {
      callback: (err, msg) => {
        if (err) {
          this.logger.error({ err, subject: this.deliverSubject }, "monitor subscription failed");
          return;
        }
        if (this.skipped(msg.reply)) return;
        let event: OrderEvent | undefined;
        try {
          event = toOrderEvent(msg, t.subjectPrefix, this.steps);
        } catch (err) {
          // A throw here would end the read loop of a connection that also carries the index,
          // the status reads and the dashboard in `orderflow up`.
          this.counters.unreadable++;
          this.guard.report("monitor feed", err);
          return;
        }
        if (!event) {
          this.counters.ignored++;
          return;
        }
        if (this.stages && !this.stages.has(event.stage)) {
          this.counters.filtered++;
          return;
        }
        this.counters.events++;
        this.emit(event);
      },
    });
    // The subscription reaches the server with the next flush; a caller that publishes right after
    // start() expects to see those events.
    await this.nc.flush();
  }

  /**
   * Counts gaps and drops the backlog before anything is decoded, so millions of stale events
   * pushed at once (MONITOR has no flow control) cost a subject scan each, not an event.
   */
  private skipped(reply: string | undefined): boolean {
    if (!reply || !readDelivery(reply, this.delivery)) return false;
    const seq = this.delivery.streamSeq;
    if (this.lastSeq > 0 && seq > this.lastSeq + 1) this.counters.missed += seq - this.lastSeq - 1;
    if (seq > this.lastSeq) this.lastSeq = seq;
    if (seq <= this.skipThrough) {
      this.counters.backlogSkipped++;
      return true;
    }
    if (this.counters.backlogSkipped > 0 && !this.backlogReported) {
      this.backlogReported = true;
      this.logger.info(
        { skipped: this.counters.backlogSkipped },
        "skipped MONITOR's backlog from before this watcher started",
      );
    }
    return false;
  }

  /** Calls `listener` for every event; returns the function that removes it. */
  on(listener: OrderEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The events as an async iterator, ending when the feed stops. Each iterator buffers on its own,
   * so a slow reader holds memory, not the other listeners.
   */
  async *events(): AsyncGenerator<OrderEvent> {
    const queue: OrderEvent[] = [];
    let wake: (() => void) | undefined;
    const off = this.on((e) => {
      queue.push(e);
      wake?.();
    });
    // closed() never rejects; it only wakes a reader that waits when the feed stops.
    void this.closed().then(() => wake?.());
    try {
      while (true) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (!this.sub || this.sub.isClosed()) return;
        await new Promise<void>((r) => {
          wake = r;
        });
        wake = undefined;
      }
    } finally {
      off();
    }
  }

  stats(): MonitorFeedStats {
    return { ...this.counters };
  }

  /** Resolves when the subscription has ended (stop(), or the connection closed). */
  async closed(): Promise<void> {
    if (!this.sub) return;
    await this.sub.closed.then(
      () => undefined,
      (err: unknown) => this.logger.error({ err }, "monitor subscription closed with an error"),
    );
  }

  /** Unsubscribes after the events already received have been handed out. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const sub = this.sub;
      if (!sub || sub.isClosed()) return;
      try {
        await sub.drain();
      } catch (err) {
        // A closed connection has ended the subscription already: nothing left to drain.
        if (!this.nc.isClosed())
          throw new StopError("monitor", `cannot drain: ${errorMessage(err)}`, { cause: err });
      }
    })();
    return this.stopping;
  }

  private emit(event: OrderEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (err) {
        // One failing listener (say, a closed web socket) must not starve the others.
        this.guard.report("monitor listener", err);
      }
    }
  }
}
