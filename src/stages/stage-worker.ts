import { EventEmitter } from "node:events";
import {
  headers,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  PermissionViolationError,
} from "@nats-io/nats-core";
import { readDelivery } from "../common/ack-subject.js";
import { errorMessage, InvalidOrderError, PermissionError, type PublishError } from "../common/errors.js";
import { type Logger, silentLogger } from "../common/logger.js";
import { DeadLetterHeader, deadLetterMsgId, headerSafe, MAX_ATTEMPTS_REASON } from "./dead-letter.js";
import { PubAckWindow } from "./pub-ack-window.js";
import { PullRequester } from "./pull-requester.js";
import {
  encodeOutput,
  type OrderInput,
  outputMsgId,
  type StageDefinition,
  type StageOutput,
} from "./stage.js";
import { retryDelayMs, type StageWorkerOptions, stageWorkerOptions } from "./worker-options.js";

export const OutcomeKind = { Done: "done", DeadLettered: "dead-lettered", Retried: "retried" } as const;
export type OutcomeKind = (typeof OutcomeKind)[keyof typeof OutcomeKind];

/** What became of one delivery; emitted as `outcome` only when someone listens. */
export interface Outcome {
  kind: OutcomeKind;
  stage: string;
  seq: number;
  orderNo: string | undefined;
  /** From delivery to ack (or nak), in ms. */
  latencyMs: number;
  reason?: string;
}

export interface StageStats {
  processed: number;
  deadLettered: number;
  retried: number;
  /** Publishes that failed for infrastructure reasons; their inputs were left for redelivery. */
  infraErrors: number;
  /** Deliveries seen that were redeliveries (delivery count > 1). */
  redelivered: number;
  inFlight: number;
}

export interface StageWorkerEvents {
  outcome: [Outcome];
  /** The worker stopped itself: the connection closed or the server refused it permission. */
  fatal: [Error];
  stopping: [];
  stopped: [];
}

/** One delivery between its arrival and its ack: also the OrderInput the handler sees. */
class InFlight implements OrderInput {
  orderNo = "";
  seq = 0;
  deliveryCount = 0;
  /** Set when the message being published for this input is a dead letter. */
  deadLetterReason: string | undefined = undefined;
  readonly receivedAt = performance.now();
  constructor(
    readonly data: Uint8Array,
    readonly reply: string,
    readonly subject: string,
  ) {}
}

const ACK = new TextEncoder().encode("+ACK");
const MSG_ID = "Nats-Msg-Id";

type State = "new" | "running" | "stopping" | "stopped";

/**
 * Runs one stage: pulls its consumer in batches, hands each order to the stage's handler, publishes
 * the output with a deterministic Nats-Msg-Id and acks the input only after the PubAck. Up to
 * `maxInFlight` orders are in progress at once; nothing is awaited per order.
 *
 * Failure classes decide the ack:
 * - InvalidOrderError (from parse or handle): dead-lettered at once, then acked.
 * - any other handler error: nak with exponential backoff; dead-lettered after `maxAttempts` deliveries.
 * - infrastructure (no PubAck, no stream, server gone): nak after `infraRetryMs`, never dead-lettered.
 */
export class StageWorker extends EventEmitter<StageWorkerEvents> {
  readonly options: StageWorkerOptions;
  private readonly logger: Logger;
  private readonly debug: boolean;
  private readonly pulls: PullRequester;
  private readonly window: PubAckWindow<InFlight>;
  private readonly delivery = { deliveryCount: 0, streamSeq: 0 };
  private state: State = "new";
  private stopPromise: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private summaryTimer: NodeJS.Timeout | undefined;
  private pausedUntil = 0;
  private lastProblem = "";
  private readonly counts: StageStats = {
    processed: 0,
    deadLettered: 0,
    retried: 0,
    infraErrors: 0,
    redelivered: 0,
    inFlight: 0,
  };

  constructor(
    private readonly nc: NatsConnection,
    readonly stage: StageDefinition,
    options: Partial<StageWorkerOptions> = {},
    deps: { logger?: Logger } = {},
  ) {
    super();
    this.options = stageWorkerOptions(options);
    this.logger = (deps.logger ?? silentLogger).child({ stage: stage.name, consumer: stage.consumer });
    this.debug = this.logger.isLevelEnabled("debug");
    const inboxPrefix = this.options.inboxPrefix;
    this.pulls = new PullRequester(
      nc,
      {
        stream: this.options.stream,
        consumer: stage.consumer,
        batch: this.options.batch,
        expiresMs: this.options.pullExpiresMs,
        inboxPrefix,
      },
      {
        delivered: (msg) => this.onDelivery(msg),
        pullProblem: (d) => this.onPullProblem(d),
        requestEnded: () => this.fill(),
      },
    );
    this.window = new PubAckWindow<InFlight>(
      nc,
      { pubAcked: (e) => this.onPubAck(e), pubFailed: (e, err) => this.onPubFailed(e, err) },
      this.options.pubAckTimeoutMs,
      inboxPrefix,
    );
  }

  stats(): StageStats {
    return { ...this.counts };
  }

  get running(): boolean {
    return this.state === "running";
  }

  async start(): Promise<void> {
    if (this.state !== "new") throw new Error(`stage worker ${this.stage.name} was already started`);
    this.state = "running";
    this.pulls.start();
    this.window.start();
    this.watchConnection();
    this.timer = setInterval(() => this.tick(), 250);
    if (this.options.summaryIntervalMs > 0) {
      this.summaryTimer = setInterval(() => this.logSummary(), this.options.summaryIntervalMs);
      this.summaryTimer.unref();
    }
    // Subscriptions must reach the server before the first pull asks it to deliver to them.
    await this.nc.flush();
    this.logger.info(
      {
        stream: this.options.stream,
        output: this.stage.outputSubject,
        batch: this.options.batch,
        maxInFlight: this.options.maxInFlight,
        maxAttempts: this.options.maxAttempts,
      },
      `${this.stage.name} started`,
    );
    this.fill();
  }

  /**
   * Stops pulling, lets every order already delivered finish (publish + ack) and waits for open pull
   * requests to expire on the server, so no delivery is left waiting out its ack wait. Idempotent.
   */
  stop(): Promise<void> {
    this.stopPromise ??= this.drainAndStop();
    return this.stopPromise;
  }

  private async drainAndStop(): Promise<void> {
    if (this.state === "new") {
      this.state = "stopped";
      return;
    }
    this.state = "stopping";
    this.emit("stopping");
    const deadline = Date.now() + this.options.pullExpiresMs + this.options.pubAckTimeoutMs + 2_000;
    while ((this.counts.inFlight > 0 || this.pulls.outstanding > 0) && Date.now() < deadline) {
      this.pulls.sweep();
      await new Promise((r) => setTimeout(r, 20));
    }
    if (this.counts.inFlight > 0) {
      this.logger.warn(
        { inFlight: this.counts.inFlight },
        "stopping with orders in flight; they will be redelivered",
      );
      this.window.failAll("worker stopped");
    }
    if (!this.nc.isClosed() && !this.nc.isDraining()) {
      // While disconnected a flush cannot complete; the acks stay buffered and go out on reconnect
      // or are lost with the process, and then redelivery + dedupe heal them.
      await this.nc
        .flush()
        .catch((err: unknown) =>
          this.logger.warn({ err: errorMessage(err) }, "could not flush acks on stop"),
        );
    }
    clearInterval(this.timer);
    clearInterval(this.summaryTimer);
    this.pulls.stop();
    this.window.stop();
    this.state = "stopped";
    this.logSummary();
    this.logger.info(`${this.stage.name} stopped`);
    this.emit("stopped");
  }

  /** Keeps pull requests out for as many orders as there is room for, in whole batches. */
  private fill(): void {
    if (this.state !== "running" || this.nc.isClosed() || Date.now() < this.pausedUntil) return;
    const { batch, maxInFlight } = this.options;
    while (this.pulls.outstanding + this.counts.inFlight + batch <= maxInFlight) this.pulls.pull(batch);
  }

  private tick(): void {
    if (this.pulls.sweep() && this.state === "running") {
      // Pulls that vanish without a status mean the consumer is gone or the server lost them.
      this.onPullProblem(`no answer to pull requests on ${this.options.stream} > ${this.stage.consumer}`);
    }
    this.fill();
  }

  private onPullProblem(description: string): void {
    if (description !== this.lastProblem) this.logger.warn(description);
    this.lastProblem = description;
    this.pausedUntil = Date.now() + this.options.infraRetryMs;
  }

  private onDelivery(msg: Msg): void {
    const e = new InFlight(msg.data, msg.reply as string, msg.subject);
    if (readDelivery(e.reply, this.delivery)) {
      e.seq = this.delivery.streamSeq;
      e.deliveryCount = this.delivery.deliveryCount;
    }
    if (e.deliveryCount > 1) this.counts.redelivered++;
    this.counts.inFlight++;
    let out: StageOutput | Promise<StageOutput>;
    try {
      e.orderNo = this.stage.parse(e.data);
      out = this.stage.handle(e);
    } catch (err) {
      this.onHandlerError(e, err);
      return;
    }
    if (out instanceof Promise) {
      out.then(
        (o) => this.publishOutput(e, o),
        (err: unknown) => this.onHandlerError(e, err),
      );
    } else {
      this.publishOutput(e, out);
    }
  }

  private publishOutput(e: InFlight, out: StageOutput): void {
    let data: Uint8Array;
    let h: MsgHdrs | undefined;
    try {
      data = encodeOutput(out);
      if (this.options.msgIds) {
        h = headers();
        h.set(MSG_ID, outputMsgId(this.stage, e.orderNo));
      }
    } catch (err) {
      this.onHandlerError(e, err);
      return;
    }
    if (this.debug) this.logger.debug({ orderNo: e.orderNo, seq: e.seq }, "publishing");
    this.window.publish(this.stage.outputSubject, data, h, e);
  }

  private onHandlerError(e: InFlight, err: unknown): void {
    if (err instanceof InvalidOrderError) {
      this.deadLetter(e, err.reason, err.message);
      return;
    }
    if (e.deliveryCount >= this.options.maxAttempts) {
      this.deadLetter(e, MAX_ATTEMPTS_REASON, errorMessage(err));
      return;
    }
    this.counts.retried++;
    const delay = retryDelayMs(this.options, e.deliveryCount);
    if (this.debug) this.logger.debug({ seq: e.seq, attempt: e.deliveryCount, delay, err }, "retrying");
    this.release(e, OutcomeKind.Retried, `-NAK {"delay":${delay * 1_000_000}}`, errorMessage(err));
  }

  private deadLetter(e: InFlight, reason: string, detail: string): void {
    e.deadLetterReason = reason;
    const h = headers();
    h.set(MSG_ID, deadLetterMsgId(this.stage.consumer, e.seq));
    h.set(DeadLetterHeader.Stage, this.stage.name);
    h.set(DeadLetterHeader.Reason, reason);
    h.set(DeadLetterHeader.Error, headerSafe(detail));
    h.set(DeadLetterHeader.SourceSeq, String(e.seq));
    h.set(DeadLetterHeader.SourceSubject, e.subject);
    h.set(DeadLetterHeader.Deliveries, String(e.deliveryCount));
    if (e.orderNo) h.set(DeadLetterHeader.OrderNo, headerSafe(e.orderNo));
    this.logger.warn({ seq: e.seq, reason, detail }, "dead-lettering order");
    this.window.publish(this.options.failedSubject, e.data, h, e);
  }

  private onPubAck(e: InFlight): void {
    if (e.deadLetterReason === undefined) this.counts.processed++;
    else this.counts.deadLettered++;
    const kind = e.deadLetterReason === undefined ? OutcomeKind.Done : OutcomeKind.DeadLettered;
    this.release(e, kind, ACK, e.deadLetterReason);
  }

  private onPubFailed(e: InFlight, err: PublishError): void {
    this.counts.infraErrors++;
    this.onPullProblem(err.oneLine());
    // Never dead-letter for infrastructure trouble: the input comes back and dedupe absorbs a
    // publish that did land after all.
    e.deadLetterReason = undefined;
    this.release(
      e,
      OutcomeKind.Retried,
      `-NAK {"delay":${this.options.infraRetryMs * 1_000_000}}`,
      err.message,
    );
  }

  /** Acks or naks the input and frees its place. */
  private release(e: InFlight, kind: OutcomeKind, reply: Uint8Array | string, reason?: string): void {
    if (!this.nc.isClosed()) this.nc.publish(e.reply, reply);
    this.counts.inFlight--;
    if (this.listenerCount("outcome") > 0) {
      this.emit("outcome", {
        kind,
        stage: this.stage.name,
        seq: e.seq,
        orderNo: e.orderNo || undefined,
        latencyMs: performance.now() - e.receivedAt,
        reason,
      });
    }
    if (this.counts.inFlight + this.pulls.outstanding <= this.options.maxInFlight - this.options.batch)
      this.fill();
  }

  private watchConnection(): void {
    void (async () => {
      for await (const s of this.nc.status()) {
        if (this.state === "stopped") break;
        if (s.type === "reconnect") {
          // Pull requests do not survive a reconnect reliably; ask again.
          this.pulls.reset();
          this.pausedUntil = 0;
          this.fill();
        } else if (s.type === "error" && s.error instanceof PermissionViolationError) {
          this.fail(
            new PermissionError(
              `${this.stage.name}: permission denied to ${s.error.operation} "${s.error.subject}"`,
              {
                subject: s.error.subject,
                hint: "grant this user the subjects in deploy/nats-server.conf for its role",
                cause: s.error,
              },
            ),
          );
        }
      }
    })().catch((err: unknown) => this.logger.error({ err }, "connection watcher failed"));
    this.nc
      .closed()
      .then((err) => {
        if (this.state === "running") this.fail(err ?? new Error("NATS connection closed"));
      })
      .catch((err: unknown) => this.logger.error({ err }, "connection close watcher failed"));
  }

  private fail(err: Error): void {
    if (this.state !== "running") return;
    this.logger.error({ err: err.message }, `${this.stage.name} cannot go on`);
    this.emit("fatal", err);
    void this.stop();
  }

  private logSummary(): void {
    this.logger.info({ ...this.counts }, `${this.stage.name} summary`);
  }
}
