import {
  createInbox,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type PublishOptions,
  type Subscription,
} from "@nats-io/nats-core";
import { PublishError } from "../common/errors.js";
import { isPubAck, pubAckFailure } from "./pub-ack-reply.js";

/** Told what became of each publish; one object for all publishes, so no closure per message. */
export interface PubAckListener<T> {
  /** The stream stored the message, or already had it (a duplicate Nats-Msg-Id counts as success). */
  pubAcked(token: T): void;
  /**
   * No PubAck: no stream for the subject, a JetStream error, a reply that is not a PubAck from the
   * expected stream, the client refusing the publish, or no answer within the timeout.
   */
  pubFailed(token: T, err: PublishError): void;
  /** The PubAck subscription itself failed (e.g. the server refused it permission). */
  inboxFailed(err: Error): void;
}

/**
 * One publish awaiting its PubAck. A class, not an object literal: V8 may decide that a literal's
 * allocation site makes long-lived objects (it sees a worker's first burst of orders all alive at
 * once) and from then on allocate every one in the old generation, where each entry keeps its order
 * (message, buffers, headers) alive past young-generation collections until a full one: in traced
 * workers that more than doubled the time spent in them and tripled the full collections
 * (docs/benchmarks.md, "Tracing"). V8 tracks allocation sites for literals, not for `new`.
 */
class Pending<T> {
  constructor(
    readonly token: T,
    readonly subject: string,
    readonly deadline: number,
  ) {}
}

/**
 * JetStream publishing without a promise, timer or request object per message: each publish goes
 * out as a core publish whose reply subject is `<inbox>.<id>`, and one wildcard subscription
 * receives every PubAck and finds its publish by id. This is what nats.go's async publish does; the
 * per-message `js.publish()` of nats.js costs about half our throughput (see docs/benchmarks.md).
 *
 * What `js.publish()` would give us is kept: a PubAck error or a no-responders status fails the
 * publish, and a publish with no answer by `timeoutMs` fails by timeout (its late PubAck is ignored).
 * A reply counts as stored only when it is a PubAck: the server writes `{"stream":"ORDERS", "seq":N}`
 * (2.9; a `"domain"` may come between), so the check is a byte compare, no JSON parse. A plain
 * core responder on the subject is not taken for a store. `publish()` never throws: what the client refuses (over max_payload,
 * connection closed) fails that publish through the listener.
 */
export class PubAckWindow<T> {
  private readonly pending = new Map<number, Pending<T>>();
  private readonly prefix: string;
  private nextId = 1;
  private sub: Subscription | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly options: PublishOptions = { reply: "", headers: undefined };

  constructor(
    private readonly nc: NatsConnection,
    private readonly listener: PubAckListener<T>,
    private readonly opts: { timeoutMs: number; inboxPrefix?: string },
  ) {
    this.prefix = `${createInbox(opts.inboxPrefix)}.`;
  }

  get size(): number {
    return this.pending.size;
  }

  start(): void {
    this.sub = this.nc.subscribe(`${this.prefix}*`, { callback: (err, msg) => this.onReply(err, msg) });
    this.sweeper = setInterval(() => this.sweep(), Math.max(50, Math.floor(this.opts.timeoutMs / 5)));
    this.sweeper.unref();
  }

  publish(subject: string, data: Uint8Array, headers: MsgHdrs | undefined, token: T): void {
    const id = this.nextId++;
    // One options object for every publish: the client reads it during the call and keeps nothing.
    const options = this.options;
    options.reply = this.prefix + id;
    options.headers = headers;
    try {
      this.nc.publish(subject, data, options);
    } catch (err) {
      this.listener.pubFailed(token, refusedByClient(subject, err));
      return;
    }
    this.pending.set(id, new Pending(token, subject, Date.now() + this.opts.timeoutMs));
  }

  private onReply(err: Error | null, msg: Msg | undefined): void {
    // A refused subscription calls back with an error and no message: nothing to correlate.
    if (err || !msg) {
      this.listener.inboxFailed(err ?? new Error("PubAck inbox delivered nothing"));
      return;
    }
    const id = Number(msg.subject.substring(this.prefix.length));
    const p = this.pending.get(id);
    if (!p) return; // timed out earlier: its input was already given back for redelivery
    this.pending.delete(id);
    if (isPubAck(msg.data)) {
      this.listener.pubAcked(p.token);
      return;
    }
    this.listener.pubFailed(p.token, pubAckFailure(p.subject, msg.data, msg.headers));
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, p] of this.pending) {
      if (p.deadline > now) continue;
      this.pending.delete(id);
      this.listener.pubFailed(
        p.token,
        new PublishError(p.subject, `no PubAck within ${this.opts.timeoutMs} ms`),
      );
    }
  }

  /** Fails every publish still waiting (used when stopping gives up). */
  failAll(reason: string): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      this.listener.pubFailed(p.token, new PublishError(p.subject, reason));
    }
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sub?.unsubscribe();
    this.sub = undefined;
  }
}

function refusedByClient(subject: string, err: unknown): PublishError {
  const message = err instanceof Error ? err.message : String(err);
  return new PublishError(subject, `the client refused it: ${message}`, { cause: err });
}
