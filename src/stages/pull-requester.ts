import { createInbox, type Msg, type NatsConnection, nanos, type Subscription } from "@nats-io/nats-core";
import { isConsumerGone } from "./pull-status.js";

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
  /** A status the consumer answered with that an operator should know about (409 …). */
  pullProblem(description: string): void;
  /**
   * A request ended short of its batch (expired, or refused): room to ask again at once, so an
   * order arriving now finds a pull waiting for it instead of waiting for the next timer tick.
   */
  requestEnded(): void;
  /**
   * The consumer answered a request with a status (408 at expiry, 409 max waiting…): it exists
   * and takes pulls. Deliveries say the same and are not reported here.
   */
  answered(): void;
  /** The consumer is not there: 409 Consumer Deleted on an open request, or 503 no responders. */
  consumerGone(description: string): void;
}

/** One pull request the server has not finished answering. */
interface OpenRequest {
  id: number;
  /** Messages asked for and not yet delivered (attributed oldest request first). */
  remaining: number;
  /** When the server has certainly ended it: its expiry plus a grace for the answer to arrive. */
  deadline: number;
}

const encoder = new TextEncoder();

function pullJson(batch: number, expiresMs: number): string {
  return `{"batch":${batch},"expires":${nanos(expiresMs)}}`;
}

/** How long after a request's expiry its 408 may still be on the way. */
const ANSWER_GRACE_MS = 1_000;

/**
 * Pull requests to one durable consumer, sent as core publishes to `$JS.API.CONSUMER.MSG.NEXT…`
 * with our own reply inbox. Keeps count of how many messages are asked for and not yet delivered
 * (`outstanding`), so the worker can keep the pipe full without asking for more than it can hold.
 *
 * Every request ends one of three ways: all its messages are delivered (the server then says
 * nothing), a status comes on the request's own reply subject (a 408 at expiry, a 409 for max
 * waiting exceeded, consumer deleted, server shutdown), or the server forgets it without a word
 * (2.9 on a consumer leader change in a cluster, a restart). Each request is therefore tracked on
 * its own until its expiry: deliveries arrive with the stream's subject and cannot be matched to a
 * request, so they are attributed to the oldest open request (the server serves one client's
 * requests in order); a status closes its request; and a request still open a grace period after
 * its expiry was dropped and is written off. `outstanding` is the sum of what open requests are
 * owed, so a dropped request can hold room for at most one expiry, however busy the worker is.
 */
export class PullRequester {
  private readonly prefix: string;
  private readonly nextSubject: string;
  private nextId = 1;
  private sub: Subscription | undefined;
  /** Oldest first; at most maxInFlight / batch long, so a scan is cheap. */
  private open: OpenRequest[] = [];
  outstanding = 0;
  private fullBody: Uint8Array | undefined;

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
      callback: (err, msg) => {
        if (err || !msg) this.listener.pullProblem(`pull inbox: ${err?.message ?? "no message"}`);
        else this.onMessage(msg);
      },
    });
  }

  /** Requests the server has not finished answering. */
  get openRequests(): number {
    return this.open.length;
  }

  /** Asks the consumer for up to `batch` messages. */
  pull(batch = this.opts.batch): void {
    const id = this.nextId++;
    this.nc.publish(this.nextSubject, this.requestBody(batch), { reply: `${this.prefix}${id}` });
    this.open.push({ id, remaining: batch, deadline: Date.now() + this.opts.expiresMs + ANSWER_GRACE_MS });
    this.outstanding += batch;
  }

  /** The request's JSON, encoded once: every pull but the odd short one has the same batch. */
  private requestBody(batch: number): Uint8Array {
    if (batch !== this.opts.batch) return encoder.encode(pullJson(batch, this.opts.expiresMs));
    this.fullBody ??= encoder.encode(pullJson(batch, this.opts.expiresMs));
    return this.fullBody;
  }

  private onMessage(msg: Msg): void {
    // Deliveries carry the `$JS.ACK…` reply subject (an empty order too); statuses carry none.
    if (msg.reply) {
      this.attributeDelivery();
      this.listener.delivered(msg);
      return;
    }
    const code = msg.headers?.code ?? 0;
    if (code === 100) return; // idle heartbeat
    this.close(Number(msg.subject.substring(this.prefix.length)));
    const description = msg.headers?.description ?? "";
    if (code !== 404 && code !== 408) {
      this.listener.pullProblem(`${this.opts.stream} > ${this.opts.consumer}: ${code} ${description}`);
    }
    if (isConsumerGone(code, description)) {
      this.listener.consumerGone(
        `${this.opts.stream} > ${this.opts.consumer}: ${code} ${description || "no responders"}`.trim(),
      );
    } else this.listener.answered();
    this.listener.requestEnded();
  }

  private attributeDelivery(): void {
    const oldest = this.open[0];
    if (!oldest) return; // a delivery for a request written off already
    this.outstanding--;
    if (--oldest.remaining === 0) this.open.shift();
  }

  /** The request has ended on the server: whatever it is still owed will not come. */
  private close(id: number): void {
    const i = this.open.findIndex((r) => r.id === id);
    if (i < 0) return;
    this.outstanding -= (this.open[i] as OpenRequest).remaining;
    this.open.splice(i, 1);
  }

  /**
   * Writes off requests the server has certainly ended without telling us (dropped on a leader
   * change or a restart, or sent to a consumer that does not exist). Returns true when it did.
   */
  sweep(now = Date.now()): boolean {
    let dropped = false;
    while (this.open.length > 0 && (this.open[0] as OpenRequest).deadline <= now) {
      const r = this.open.shift() as OpenRequest;
      this.outstanding -= r.remaining;
      dropped = true;
    }
    // Requests are sent in deadline order, so only the head can be due; one sent later but due
    // earlier cannot exist.
    return dropped;
  }

  /** After a reconnect the server may have forgotten our requests: start counting afresh. */
  reset(): void {
    this.open = [];
    this.outstanding = 0;
  }

  stop(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
  }
}
