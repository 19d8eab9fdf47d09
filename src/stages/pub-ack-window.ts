import {
  createInbox,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from "@nats-io/nats-core";
import { PublishError } from "../common/errors.js";

/** Told what became of each publish; one object for all publishes, so no closure per message. */
export interface PubAckListener<T> {
  /** The stream stored the message, or already had it (a duplicate Nats-Msg-Id counts as success). */
  pubAcked(token: T): void;
  /** No PubAck: no stream for the subject, a JetStream error, or no answer within the timeout. */
  pubFailed(token: T, err: PublishError): void;
}

interface Pending<T> {
  token: T;
  subject: string;
  deadline: number;
}

const E = 0x65; // 'e' of `{"error":…}`; a PubAck starts `{"stream":…}`

/**
 * JetStream publishing without a promise, timer or request object per message: each publish goes
 * out as a core publish whose reply subject is `<inbox>.<id>`, and one wildcard subscription
 * receives every PubAck and finds its publish by id. This is what nats.go's async publish does; the
 * per-message `js.publish()` of nats.js costs about half our throughput (see docs/benchmarks.md).
 *
 * What `js.publish()` would give us is kept: a PubAck error or a no-responders status fails the
 * publish, and a publish with no answer by `timeoutMs` fails by timeout (its late PubAck is ignored).
 */
export class PubAckWindow<T> {
  private readonly pending = new Map<number, Pending<T>>();
  private readonly prefix: string;
  private nextId = 1;
  private sub: Subscription | undefined;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly listener: PubAckListener<T>,
    private readonly timeoutMs: number,
    inboxPrefix?: string,
  ) {
    this.prefix = `${createInbox(inboxPrefix)}.`;
  }

  get size(): number {
    return this.pending.size;
  }

  start(): void {
    this.sub = this.nc.subscribe(`${this.prefix}*`, { callback: (err, msg) => this.onReply(err, msg) });
    this.sweeper = setInterval(() => this.sweep(), Math.max(50, Math.floor(this.timeoutMs / 5)));
    this.sweeper.unref();
  }

  publish(subject: string, data: Uint8Array, headers: MsgHdrs | undefined, token: T): void {
    const id = this.nextId++;
    this.pending.set(id, { token, subject, deadline: Date.now() + this.timeoutMs });
    this.nc.publish(subject, data, { reply: this.prefix + id, headers });
  }

  private onReply(err: Error | null, msg: Msg): void {
    const id = Number(msg.subject.substring(this.prefix.length));
    const p = this.pending.get(id);
    if (!p) return; // timed out earlier: its input was already given back for redelivery
    this.pending.delete(id);
    if (err) {
      this.listener.pubFailed(p.token, new PublishError(p.subject, err.message, { cause: err }));
      return;
    }
    const data = msg.data;
    if (data.length > 2 && data[2] !== E) {
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
      this.listener.pubFailed(p.token, new PublishError(p.subject, `no PubAck within ${this.timeoutMs} ms`));
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

function describeFailure(subject: string, msg: Msg): PublishError {
  if (msg.data.length === 0) {
    const code = msg.headers?.code ?? 0;
    if (code === 503) {
      return new PublishError(subject, "no stream captures this subject (no responders)", {
        hint: "run `orderflow setup`",
      });
    }
    return new PublishError(subject, `status ${code} ${msg.headers?.description ?? ""}`.trim());
  }
  try {
    const body = JSON.parse(new TextDecoder().decode(msg.data)) as {
      error?: { description?: string; err_code?: number };
    };
    return new PublishError(
      subject,
      `${body.error?.description ?? "unknown JetStream error"} (${body.error?.err_code ?? "?"})`,
    );
  } catch (err) {
    return new PublishError(
      subject,
      `unreadable PubAck: ${new TextDecoder().decode(msg.data).slice(0, 100)}`,
      {
        cause: err,
      },
    );
  }
}
