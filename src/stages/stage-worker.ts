import type { Msg, MsgHdrs, NatsConnection } from "@nats-io/nats-core";
import { readDelivery } from "../common/ack-subject.js";
import { guard, reportCallbackError } from "../common/callback-guard.js";
import { errorMessage, HandlerTimeoutError, type PublishError } from "../common/errors.js";
import { type Logger, silentLogger } from "../common/logger.js";
import { MAX_ATTEMPTS_REASON, OUTPUT_TOO_LARGE_REASON, TIMEOUT_REASON } from "./dead-letter.js";
import { HandlerFailures } from "./handler-failures.js";
import { HandlerRunner } from "./handler-runner.js";
import { ACK, InFlight, isInvalidOrder } from "./in-flight.js";
import { LateRedeliveryCheck } from "./late-redelivery.js";
import { LateRedeliveries, type OutputLedger } from "./output-ledger.js";
import { deadLetterMessage, maxPayload, outputHeaders, SMALL_ENOUGH, tooLarge } from "./output-message.js";
import { PubAckWindow } from "./pub-ack-window.js";
import { PullRequester } from "./pull-requester.js";
import { encodeOutput, type StageDefinition, type StageOutput } from "./stage.js";
import { OutcomeKind, type StageStats } from "./stage-worker-types.js";
import { flushAcks, watchWorkerConnection } from "./worker-connection.js";
import { retryDelayMs, type StageWorkerOptions, stageWorkerOptions } from "./worker-options.js";

export {
  type HandlerCall,
  type Outcome,
  OutcomeKind,
  type StageStats,
  type StageWorkerEvents,
} from "./stage-worker-types.js";

/**
 * Runs one stage: pulls its consumer in batches, hands each order to the stage's handler, publishes
 * the output with a deterministic Nats-Msg-Id and acks the input only after the PubAck. Up to
 * `maxInFlight` orders are in progress at once; nothing is awaited per order.
 *
 * Failure classes decide the ack:
 * - InvalidOrderError (from parse or handle), or an output over the server's max_payload:
 *   dead-lettered at once, then acked.
 * - any other handler error: nak with exponential backoff; dead-lettered after `maxAttempts` handler
 *   failures (infrastructure redeliveries do not count, see HandlerFailures).
 * - infrastructure (no PubAck, no stream, server gone, the client refusing a publish): nak after
 *   `infraRetryMs`, never dead-lettered.
 *
 * Every input ends as exactly one output or one dead letter: nothing on the path from delivery to
 * ack throws into the client's callbacks (a throw there would end its read loop), a listener or a
 * handler that throws is contained, and a dead letter too large for the server is cut to fit.
 */
export class StageWorker extends HandlerRunner {
  private readonly debug: boolean;
  private readonly pulls: PullRequester;
  private readonly window: PubAckWindow<InFlight>;
  private readonly delivery = { deliveryCount: 0, streamSeq: 0 };
  private readonly failures = new HandlerFailures();
  private readonly late: LateRedeliveryCheck;
  private stopPromise: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private summaryTimer: NodeJS.Timeout | undefined;
  private pausedUntil = 0;
  private lastProblem = "";

  constructor(
    nc: NatsConnection,
    stage: StageDefinition,
    options: Partial<StageWorkerOptions> = {},
    deps: { logger?: Logger; outputLedger?: OutputLedger } = {},
  ) {
    super(
      nc,
      stage,
      stageWorkerOptions(options),
      (deps.logger ?? silentLogger).child({ stage: stage.name, consumer: stage.consumer }),
    );
    this.debug = this.logger.isLevelEnabled("debug");
    this.late = new LateRedeliveryCheck({
      stage,
      options: this.options,
      ledger: deps.outputLedger,
      logger: this.logger,
      counts: this.counts,
      admit: (e) => this.admit(e),
      release: (e, kind, reply, reason) => this.release(e, kind, reply, reason),
    });
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
        pullProblem: guard(`${stage.name} pull listener`, this.logger, (d: string) => this.onPullProblem(d)),
        requestEnded: guard(`${stage.name} pull listener`, this.logger, () => this.fill()),
      },
    );
    this.window = new PubAckWindow<InFlight>(
      nc,
      {
        pubAcked: (e) => this.onPubAckSafely(e),
        pubFailed: (e, err) => this.onPubFailedSafely(e, err),
        inboxFailed: guard(`${stage.name} PubAck inbox`, this.logger, (err: Error) =>
          this.onPullProblem(`PubAck inbox: ${err.message}`),
        ),
      },
      { timeoutMs: this.options.pubAckTimeoutMs, inboxPrefix },
    );
  }

  stats(): StageStats {
    return { ...this.counts, pullsOutstanding: this.pulls.outstanding, handlersRunning: this.calls };
  }

  get running(): boolean {
    return this.state === "running";
  }

  async start(): Promise<void> {
    if (this.state !== "new") throw new Error(`stage worker ${this.stage.name} was already started`);
    this.state = "running";
    this.pulls.start();
    this.window.start();
    watchWorkerConnection(this.nc, this.stage.name, this.logger, {
      stopped: () => this.state === "stopped",
      reconnected: () => {
        this.pulls.reset();
        this.pausedUntil = 0;
        this.fill();
      },
      fail: (err) => this.fail(err),
    });
    this.timer = setInterval(
      guard(`${this.stage.name} timer`, this.logger, () => this.tick()),
      250,
    );
    if (this.options.summaryIntervalMs > 0) {
      this.summaryTimer = setInterval(
        guard(`${this.stage.name} summary`, this.logger, () => this.logSummary()),
        this.options.summaryIntervalMs,
      );
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
    // Not started yet: another worker can start them now rather than after this one's drain.
    this.giveBackWaiting(`${this.stage.name} is stopping`);
    await this.settle(Date.now() + this.options.drainTimeoutMs);
    if (this.handling.size > 0 || this.queued() > 0) this.abandonHandlers();
    // Pull requests still open (a drain timeout shorter than their expiry) may deliver more: those
    // are given back as they come, and publishes already sent get their PubAck's time.
    this.givingBack = true;
    await this.settle(
      Date.now() + Math.max(this.options.pullExpiresMs, this.options.pubAckTimeoutMs) + 1_000,
    );
    if (this.counts.inFlight > 0) {
      this.logger.warn(
        { inFlight: this.counts.inFlight },
        "stopping with orders in flight; they will be redelivered",
      );
      this.window.failAll("worker stopped");
    }
    await flushAcks(this.nc, this.logger);
    clearInterval(this.timer);
    clearInterval(this.summaryTimer);
    clearTimeout(this.gateTimer);
    this.pulls.stop();
    this.window.stop();
    this.state = "stopped";
    this.logSummary();
    this.logger.info(`${this.stage.name} stopped`);
    this.emit("stopped");
  }

  /** Waits until nothing is in flight and no pull request is open, or the deadline. */
  private async settle(deadline: number): Promise<void> {
    while ((this.counts.inFlight > 0 || this.pulls.outstanding > 0) && Date.now() < deadline) {
      this.pulls.sweep();
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Keeps pull requests out for as many orders as there is room for, in whole batches. */
  private fill(): void {
    if (this.state !== "running" || this.nc.isClosed() || Date.now() < this.pausedUntil) return;
    const { batch, maxInFlight } = this.options;
    while (this.pulls.outstanding + this.counts.inFlight + batch <= maxInFlight) this.pulls.pull(batch);
  }

  private tick(): void {
    if (this.queued() > 0) this.keepQueuedAlive();
    if (this.pulls.sweep() && this.state === "running") {
      // Pulls that end without a status: the server forgot them (consumer leader change, restart)
      // or the consumer is gone.
      this.onPullProblem(
        `pull requests on ${this.options.stream} > ${this.stage.consumer} went unanswered past their expiry`,
      );
    }
    this.fill();
  }

  private onPullProblem(description: string): void {
    if (description !== this.lastProblem) this.logger.warn(description);
    this.lastProblem = description;
    this.pausedUntil = Date.now() + this.options.infraRetryMs;
  }

  private onDelivery(msg: Msg): void {
    const e = new InFlight(msg);
    if (readDelivery(e.reply, this.delivery)) {
      e.seq = this.delivery.streamSeq;
      e.deliveryCount = this.delivery.deliveryCount;
    }
    if (e.deliveryCount > 1) {
      this.counts.redelivered++;
      e.attempt = this.failures.of(e.seq) + 1;
    }
    this.counts.inFlight++;
    try {
      this.run(e);
    } catch (err) {
      // Our own code failed on this delivery: give the input back rather than lose its place.
      reportCallbackError(`${this.stage.name} delivery`, err, this.logger);
      this.release(e, OutcomeKind.Retried, this.infraNak(), errorMessage(err));
    }
  }

  private run(e: InFlight): void {
    try {
      e.orderNo = this.stage.parse(e.data);
    } catch (err) {
      this.onHandlerError(e, err);
      return;
    }
    if (
      e.deliveryCount > 1 &&
      this.options.lateRedeliveries === LateRedeliveries.Verify &&
      this.late.isLate(e)
    ) {
      this.late.verify(e);
      return;
    }
    this.admit(e);
  }

  protected publishOutput(e: InFlight, out: StageOutput): void {
    if (e.settled) return; // given up on meanwhile (stop() past its deadline)
    let data: Uint8Array;
    let h: MsgHdrs | undefined;
    try {
      data = encodeOutput(out);
      h = outputHeaders(this.stage, e, this.options.msgIds);
    } catch (err) {
      this.onHandlerError(e, err);
      return;
    }
    const max = maxPayload(this.nc);
    if (data.length + SMALL_ENOUGH > max && tooLarge(data, h, max)) {
      this.deadLetter(
        e,
        OUTPUT_TOO_LARGE_REASON,
        `output of ${data.length} bytes does not fit the server's max_payload of ${max} bytes`,
      );
      return;
    }
    if (this.debug) this.logger.debug({ orderNo: e.orderNo, seq: e.seq }, "publishing");
    this.window.publish(this.stage.outputSubject, data, h, e);
  }

  protected onHandlerError(e: InFlight, err: unknown): void {
    if (e.settled) return;
    if (isInvalidOrder(err)) {
      this.deadLetter(e, err.reason, err.message);
      return;
    }
    if (e.attempt >= this.options.maxAttempts) {
      const reason = err instanceof HandlerTimeoutError ? TIMEOUT_REASON : MAX_ATTEMPTS_REASON;
      this.deadLetter(e, reason, errorMessage(err));
      return;
    }
    this.failures.record(e.seq, e.attempt);
    this.counts.retried++;
    const delay = retryDelayMs(this.options, e.attempt);
    if (this.debug) this.logger.debug({ seq: e.seq, attempt: e.attempt, delay, err }, "retrying");
    this.release(e, OutcomeKind.Retried, `-NAK {"delay":${delay * 1_000_000}}`, errorMessage(err));
  }

  private deadLetter(e: InFlight, reason: string, detail: string): void {
    e.deadLetterReason = reason;
    const { data, h } = deadLetterMessage(this.stage, e, reason, detail, maxPayload(this.nc));
    this.logger.warn({ seq: e.seq, reason, detail }, "dead-lettering order");
    this.window.publish(this.options.failedSubject, data, h, e);
  }

  protected infraNak(): string {
    return `-NAK {"delay":${this.options.infraRetryMs * 1_000_000}}`;
  }

  // Settling runs in the client's PubAck callback, where nothing may throw. Two methods rather than
  // one taking a step closure: that closure would be one more allocation per order.
  private onPubAckSafely(e: InFlight): void {
    try {
      this.onPubAck(e);
    } catch (err) {
      this.settleFailed(e, err);
    }
  }

  private onPubFailedSafely(e: InFlight, failure: PublishError): void {
    try {
      this.onPubFailed(e, failure);
    } catch (err) {
      this.settleFailed(e, err);
    }
  }

  private settleFailed(e: InFlight, err: unknown): void {
    reportCallbackError(`${this.stage.name} PubAck`, err, this.logger);
    if (!e.settled) this.release(e, OutcomeKind.Retried, this.infraNak(), errorMessage(err));
  }

  private onPubAck(e: InFlight): void {
    this.failures.forget(e.seq);
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
    this.release(e, OutcomeKind.Retried, this.infraNak(), err.message);
  }

  /** Acks or naks the input and frees its place, once. */
  protected release(e: InFlight, kind: OutcomeKind, reply: Uint8Array | string, reason?: string): void {
    if (e.settled) return;
    e.settled = true;
    if (!this.nc.isClosed()) {
      try {
        this.nc.publish(e.reply, reply);
      } catch (err) {
        // Draining or closing under us: the input comes back after ack wait.
        reportCallbackError(`${this.stage.name} ack`, err, this.logger);
      }
    }
    this.counts.inFlight--;
    if (this.listenerCount("outcome") > 0) this.emitOutcome(e, kind, reason);
    if (this.counts.inFlight + this.pulls.outstanding <= this.options.maxInFlight - this.options.batch)
      this.fill();
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
