import { AckPolicy, DeliverPolicy, type JetStreamManager } from "@nats-io/jetstream";
import { createInbox, type NatsConnection, nanos, type Subscription } from "@nats-io/nats-core";
import { BenchCallbackError, BenchIncompleteError } from "../common/errors.js";

const COMMA = 0x2c;

/**
 * Sees each order as it is stored at the pipeline's last step (`ORDERS.completed`): an ephemeral
 * push consumer (deliver new, ack none) on that subject, so a completion counts when the server has
 * stored it, not when the last stage sent it.
 */
export class CompletionWatcher {
  completed = 0;
  private sub: Subscription | undefined;
  private consumer = "";
  onCompleted: ((orderNo: number, at: number) => void) | undefined;
  error: Error | undefined;
  /** The one waitFor() in progress: woken by the completion that reaches its count, or an error. */
  private waiter: { count: number; wake: () => void } | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly subject: string,
  ) {}

  async start(): Promise<void> {
    const inbox = createInbox();
    this.sub = this.nc.subscribe(inbox, {
      callback: (err, msg) => {
        if (err) {
          this.error = err;
          this.waiter?.wake();
          return;
        }
        const at = performance.now();
        this.completed++;
        if (this.waiter && this.completed >= this.waiter.count) this.waiter.wake();
        if (this.onCompleted) {
          const d = msg.data;
          let n = 0;
          for (let i = 0; i < d.length && d[i] !== COMMA; i++) n = n * 10 + ((d[i] as number) - 48);
          try {
            this.onCompleted(n, at);
          } catch (e) {
            // Thrown here it would end the client's read loop and stall the benchmark silently.
            this.error ??= new BenchCallbackError("the completion callback", e);
            this.waiter?.wake();
          }
        }
      },
    });
    const ci = await this.jsm.consumers.add(this.stream, {
      deliver_subject: inbox,
      filter_subject: this.subject,
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.New,
      inactive_threshold: nanos(60_000),
    });
    this.consumer = ci.name;
  }

  /** Resolves once `count` orders have completed; rejects on an error or after `timeoutMs`. */
  async waitFor(count: number, timeoutMs: number): Promise<void> {
    if (this.error) throw this.error;
    if (this.completed >= count) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), timeoutMs);
      this.waiter = { count, wake: () => resolve(false) };
    }).finally(() => {
      clearTimeout(timer);
      this.waiter = undefined;
    });
    if (this.error) throw this.error;
    if (timedOut && this.completed < count) throw new BenchIncompleteError(this.completed, count, timeoutMs);
  }

  async stop(): Promise<void> {
    this.sub?.unsubscribe();
    if (this.consumer) await this.jsm.consumers.delete(this.stream, this.consumer);
  }
}
