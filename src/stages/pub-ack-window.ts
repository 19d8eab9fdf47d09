import {
  createInbox,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type PublishOptions,
  type Subscription,
} from "@nats-io/nats-core";
import { PublishError } from "../common/errors.js";
import { isRetryLater } from "../common/nats-errors.js";

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

interface Pending<T> {
  token: T;
  subject: string;
  deadline: number;
}

const encoder = new TextEncoder();

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
    this.pending.set(id, { token, subject, deadline: Date.now() + this.opts.timeoutMs });
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
    this.listener.pubFailed(p.token, describeFailure(p.subject, msg));
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

const START = encoder.encode('{"stream":"');
const SEQ = encoder.encode('"seq":');

/** `{"stream":"` then, somewhere after it, `"seq":`. */
function isPubAck(data: Uint8Array): boolean {
  const start = START;
  if (data.length < start.length + SEQ.length) return false;
  for (let i = 0; i < start.length; i++) if (data[i] !== start[i]) return false;
  const last = data.length - SEQ.length;
  outer: for (let i = start.length; i <= last; i++) {
    for (let j = 0; j < SEQ.length; j++) if (data[i + j] !== SEQ[j]) continue outer;
    return true;
  }
  return false;
}

function refusedByClient(subject: string, err: unknown): PublishError {
  const message = err instanceof Error ? err.message : String(err);
  return new PublishError(subject, `the client refused it: ${message}`, { cause: err });
}

function describeFailure(subject: string, msg: Msg): PublishError {
  if (msg.data.length === 0) {
    const code = msg.headers?.code ?? 0;
    if (code === 503) {
      return new PublishError(subject, "no stream captures this subject (no responders)", {
        hint: "run `orderflow setup`",
      });
    }
    return new PublishError(subject, `status ${code} ${msg.headers?.description ?? ""}`.trim(), {
      retryLater: isRetryLater(undefined, code),
    });
  }
  try {
    const body = JSON.parse(new TextDecoder().decode(msg.data)) as {
      error?: { code?: number; description?: string; err_code?: number };
    };
    if (body.error) {
      return new PublishError(
        subject,
        `${body.error.description ?? "unknown JetStream error"} (${body.error.err_code ?? "?"})`,
        { retryLater: isRetryLater(body.error.err_code, body.error.code) },
      );
    }
    return notAPubAck(subject, msg);
  } catch (err) {
    return notAPubAck(subject, msg, err);
  }
}

function notAPubAck(subject: string, msg: Msg, cause?: unknown): PublishError {
  return new PublishError(
    subject,
    `the reply is not a JetStream PubAck: ${JSON.stringify(new TextDecoder().decode(msg.data).slice(0, 100))}`,
    { hint: "a core NATS responder answers on this subject; no JetStream stream stored it", cause },
  );
}
