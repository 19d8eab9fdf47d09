import { createInbox, type Msg, type NatsConnection, nanos, type Subscription } from "@nats-io/nats-core";

export interface PullRequesterOptions {
  stream: string;
  consumer: string;
  /** Messages per pull request. */
  batch: number;
  /** Server-side lifetime of a pull request. */
  expiresMs: number;
  inboxPrefix?: string;
}

/** Told about deliveries and about pulls that went nowhere. */
export interface PullListener {
  /** A delivered message (its reply subject is the `$JS.ACK…` subject to ack it on). */
  delivered(msg: Msg): void;
  /** A status the consumer answered with that an operator should know about (409 …), or silence. */
  pullProblem(description: string): void;
  /**
   * A request ended short of its batch (expired, or refused): room to ask again at once, so an
   * order arriving now finds a pull waiting for it instead of waiting for the next timer tick.
   */
  requestEnded(): void;
}

/**
 * Pull requests to one durable consumer, sent as core publishes to `$JS.API.CONSUMER.MSG.NEXT…`
 * with our own reply inbox. Keeps count of how many messages are asked for and not yet delivered
 * (`outstanding`), so the worker can keep the pipe full without asking for more than it can hold.
 *
 * Every request ends one of two ways: all its messages are delivered (the server then says nothing),
 * or a status comes on the request's own reply subject: a 408 at expiry says how many of its
 * messages were never sent (Nats-Pending-Messages); a 409 (max waiting exceeded, consumer deleted,
 * server shutdown) ends it too. Deliveries arrive with the stream's subject and cannot be matched to
 * a request, so `outstanding` = asked - delivered - never sent, counted in total.
 */
export class PullRequester {
  private readonly prefix: string;
  private readonly nextSubject: string;
  private nextId = 1;
  private sub: Subscription | undefined;
  /** Last time a request went out or anything came back. */
  private lastActivity = 0;
  outstanding = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: PullRequesterOptions,
    private readonly listener: PullListener,
  ) {
    this.prefix = `${createInbox(opts.inboxPrefix)}.`;
    this.nextSubject = `$JS.API.CONSUMER.MSG.NEXT.${opts.stream}.${opts.consumer}`;
  }

  start(): void {
    this.sub = this.nc.subscribe(`${this.prefix}*`, {
      callback: (err, msg) =>
        err ? this.listener.pullProblem(`pull inbox: ${err.message}`) : this.onMessage(msg),
    });
  }

  /** Asks the consumer for up to `batch` messages. */
  pull(batch = this.opts.batch): void {
    this.outstanding += batch;
    this.lastActivity = Date.now();
    // The size rides in the reply subject so a 409 without a pending count can still be accounted.
    const reply = `${this.prefix}${this.nextId++}_${batch}`;
    this.nc.publish(this.nextSubject, `{"batch":${batch},"expires":${nanos(this.opts.expiresMs)}}`, {
      reply,
    });
  }

  private onMessage(msg: Msg): void {
    this.lastActivity = Date.now();
    // Deliveries carry the `$JS.ACK…` reply subject (an empty order too); statuses carry none.
    if (msg.reply) {
      if (this.outstanding > 0) this.outstanding--;
      this.listener.delivered(msg);
      return;
    }
    const code = msg.headers?.code ?? 0;
    if (code === 100) return; // idle heartbeat
    const pendingHeader = msg.headers?.get("Nats-Pending-Messages");
    const asked = Number(msg.subject.substring(msg.subject.lastIndexOf("_") + 1)) || 0;
    const unsent = pendingHeader ? Number(pendingHeader) : asked;
    this.outstanding = Math.max(0, this.outstanding - unsent);
    if (code !== 404 && code !== 408) {
      this.listener.pullProblem(
        `${this.opts.stream} > ${this.opts.consumer}: ${code} ${msg.headers?.description ?? ""}`,
      );
    }
    this.listener.requestEnded();
  }

  /**
   * An open request always hears back within its expiry (a delivery or a 408). Silence beyond that
   * while messages are still owed means the requests were lost (reconnect, server restart) or went to
   * a consumer that does not exist: write them off. Returns true when it did.
   */
  sweep(now = Date.now()): boolean {
    if (this.outstanding === 0 || now - this.lastActivity < this.opts.expiresMs + 1_000) return false;
    this.outstanding = 0;
    return true;
  }

  /** After a reconnect the server may have forgotten our requests: start counting afresh. */
  reset(): void {
    this.outstanding = 0;
  }

  stop(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
  }
}
