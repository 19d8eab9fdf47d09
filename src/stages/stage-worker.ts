import { EventEmitter } from "node:events";
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { type AckBody, nak } from "../common/ack-protocol.js";
import { readDelivery } from "../common/ack-subject.js";
import { CallbackGuard } from "../common/callback-guard.js";
import { errorMessage, HandlerTimeoutError, LateRedeliveryError, OrderflowError } from "../common/errors.js";
import { type Logger, silentLogger } from "../common/logger.js";
import type { DeliverySource, Tracing } from "../common/tracing.js";
import { MAX_ATTEMPTS_REASON, TIMEOUT_REASON } from "./dead-letter.js";
import { HandlerFailures } from "./handler-failures.js";
import { HandlerRunner } from "./handler-runner.js";
import { InFlight, isInvalidOrder } from "./in-flight.js";
import { LateRedeliveryCheck } from "./late-redelivery.js";
import { LateRedeliveries } from "./output-ledger.js";
import { OutputPublisher } from "./output-publisher.js";
import { PullRequester } from "./pull-requester.js";
import { PullState, type PullStatus, PullStatusTracker } from "./pull-status.js";
import type { StageDefinition } from "./stage.js";
import {
  OutcomeKind,
  type StageStats,
  type StageWorkerDeps,
  type StageWorkerEvents,
  type WorkerState,
} from "./stage-worker-types.js";
import { flushAcks, watchWorkerConnection } from "./worker-connection.js";
import { retryDelayMs, type StageWorkerOptions, stageWorkerOptions } from "./worker-options.js";

export {
  type HandlerCall,
  type Outcome,
  OutcomeKind,
  type StageStats,
  type StageWorkerDeps,
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
export class StageWorker extends EventEmitter<StageWorkerEvents> {
  readonly stage: StageDefinition;
  readonly options: StageWorkerOptions;
  private readonly nc: NatsConnection;
  private readonly logger: Logger;
  private readonly guard: CallbackGuard;
  private readonly debug: boolean;
  private readonly runner: HandlerRunner;
  private readonly pulls: PullRequester;
  private readonly output: OutputPublisher;
  private readonly delivery = { deliveryCount: 0, streamSeq: 0 };
  private readonly failures = new HandlerFailures();
  private readonly late: LateRedeliveryCheck;
  private readonly counts: Omit<StageStats, "pullsOutstanding" | "handlersRunning" | "handlerTimeouts"> = {
    processed: 0,
    deadLettered: 0,
    retried: 0,
    infraErrors: 0,
    redelivered: 0,
    alreadyStored: 0,
    lateHeld: 0,
    inFlight: 0,
  };
  /** Naks for infrastructure trouble: the same body every time, built once. */
  private readonly infraNak: AckBody;
  private state: WorkerState = "new";
  private stopPromise: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private summaryTimer: NodeJS.Timeout | undefined;
  private pausedUntil = 0;
  private lastProblem = "";
  private readonly pullTracker: PullStatusTracker;
  private readonly tracing: Tracing | undefined;
  private readonly traceSource: DeliverySource;

  constructor(
    nc: NatsConnection,
    stage: StageDefinition,
    options: Partial<StageWorkerOptions> = {},
    deps: StageWorkerDeps = {},
  ) {
    super();
    this.nc = nc;
    this.stage = stage;
    this.options = stageWorkerOptions(options);
    this.logger = (deps.logger ?? silentLogger).child({ stage: stage.name, consumer: stage.consumer });
    this.guard = new CallbackGuard(this.logger);
    this.debug = this.logger.isLevelEnabled("debug");
    this.tracing = deps.tracing;
    this.traceSource = { stream: this.options.stream, consumer: stage.consumer };
    this.infraNak = nak(this.options.infraRetryMs);
    this.runner = new HandlerRunner({
      nc,
      stage,
      options: this.options,
      logger: this.logger,
      guard: this.guard,
      events: this,
      host: {
        publishOutput: (e, out) => this.output.publish(e, out),
        handlerFailed: (e, err) => this.onHandlerError(e, err),
        release: (e, kind, body, reason) => this.release(e, kind, body, reason),
      },
    });
    this.late = new LateRedeliveryCheck({
      stage,
      options: this.options,
      ledger: deps.outputLedger,
      logger: this.logger,
      guard: this.guard,
      counts: this.counts,
      admit: (e) => this.runner.admit(e),
      release: (e, kind, body, reason) => this.release(e, kind, body, reason),
      cannotVerify: (e) => this.cannotVerify(e),
    });
    this.pullTracker = new PullStatusTracker((now, before) => this.onPullStatus(now, before));
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
        pullProblem: this.guard.wrap(`${stage.name} pull listener`, (d: string) => this.onPullProblem(d)),
        requestEnded: this.guard.wrap(`${stage.name} pull listener`, () => this.fill()),
        answered: this.guard.wrap(`${stage.name} pull listener`, () => this.pullTracker.answered()),
        consumerGone: this.guard.wrap(`${stage.name} pull listener`, (d: string) => this.pullTracker.gone(d)),
      },
    );
    this.output = new OutputPublisher({
      nc,
      stage,
      options: this.options,
      logger: this.logger,
      guard: this.guard,
      counts: this.counts,
      failures: this.failures,
      host: {
        release: (e, kind, body, reason) => this.release(e, kind, body, reason),
        handlerFailed: (e, err) => this.onHandlerError(e, err),
        infraTrouble: (d) => this.onPullProblem(d),
      },
    });
  }

  stats(): StageStats {
    return {
      ...this.counts,
      handlerTimeouts: this.runner.timedOut,
      pullsOutstanding: this.pulls.outstanding,
      handlersRunning: this.runner.running,
    };
  }

  get running(): boolean {
    return this.state === "running";
  }

  /**
   * Whether its pulls reach its consumer, from the answers they get: `pulling` once the consumer
   * answered, `consumer-missing` when it was deleted or nobody answers its pulls, `unanswered` when
   * pulls expire without a word (2.9's way of saying the same), `starting` after a start or a
   * reconnect until the first answer (at most one pull expiry, 2 s by default). Workers' /readyz.
   */
  get pullStatus(): PullStatus {
    return this.pullTracker.status;
  }

  async start(): Promise<void> {
    if (this.state !== "new") throw new Error(`stage worker ${this.stage.name} was already started`);
    this.state = "running";
    this.pulls.start();
    this.output.start();
    watchWorkerConnection(this.nc, this.stage.name, this.logger, {
      stopped: () => this.state === "stopped",
      reconnected: () => {
        this.pulls.reset();
        this.pullTracker.restart();
        this.pausedUntil = 0;
        this.fill();
      },
      fail: (err) => this.fail(err),
    });
    this.timer = setInterval(
      this.guard.wrap(`${this.stage.name} timer`, () => this.tick()),
      250,
    );
    if (this.options.summaryIntervalMs > 0) {
      this.summaryTimer = setInterval(
        this.guard.wrap(`${this.stage.name} summary`, () => this.logSummary()),
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
    this.runner.stopAccepting(`${this.stage.name} is stopping`);
    await this.settle(Date.now() + this.options.drainTimeoutMs);
    // Pull requests still open (a drain timeout shorter than their expiry) may deliver more: those
    // are given back as they come, and publishes already sent get their PubAck's time.
    this.runner.abandon();
    await this.settle(
      Date.now() + Math.max(this.options.pullExpiresMs, this.options.pubAckTimeoutMs) + 1_000,
    );
    if (this.counts.inFlight > 0) {
      this.logger.warn(
        { inFlight: this.counts.inFlight },
        "stopping with orders in flight; they will be redelivered",
      );
      this.output.failAll("worker stopped");
    }
    await flushAcks(this.nc, this.logger);
    clearInterval(this.timer);
    clearInterval(this.summaryTimer);
    this.runner.close();
    this.pulls.stop();
    this.output.stop();
    this.state = "stopped";
    this.pullTracker.stopped();
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
    this.runner.keepQueuedAlive();
    if (this.pulls.sweep() && this.state === "running") {
      // Pulls that end without a status: the server forgot them (consumer leader change, restart)
      // or the consumer is gone.
      const problem = `pull requests on ${this.options.stream} > ${this.stage.consumer} went unanswered past their expiry`;
      this.onPullProblem(problem);
      this.pullTracker.unanswered(problem);
    }
    this.fill();
  }

  private onPullProblem(description: string): void {
    if (description !== this.lastProblem) this.logger.warn(description);
    this.lastProblem = description;
    this.pausedUntil = Date.now() + this.options.infraRetryMs;
  }

  /** An operator sees the consumer go and come back, once each, in the log. */
  private onPullStatus(now: PullStatus, before: PullStatus): void {
    if (now.state === PullState.Pulling && before.state !== PullState.Starting) {
      this.logger.info(`${this.stage.consumer} answers pull requests again`);
    } else if (now.state === PullState.ConsumerMissing && before.state !== PullState.ConsumerMissing) {
      this.logger.warn(
        { reason: now.reason },
        `consumer ${this.options.stream} > ${this.stage.consumer} does not answer (deleted, or its leader is being elected on a cluster); pulling again every ${this.options.infraRetryMs} ms until it is back (if deleted, \`orderflow setup\` creates it)`,
      );
    }
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
      this.pullTracker.answered();
      if (this.tracing) this.startTrace(this.tracing, e, msg);
      this.run(e);
    } catch (err) {
      // Our own code failed on this delivery: give the input back rather than lose its place.
      this.guard.report(`${this.stage.name} delivery`, err);
      this.release(e, OutcomeKind.Retried, this.infraNak, errorMessage(err));
    }
  }

  /**
   * Only when traced. Best effort: headers that do not decode or a failing span leave the order
   * untraced and reported, never given back (it would come back forever, since no handler failure
   * is counted).
   */
  private startTrace(tracing: Tracing, e: InFlight, msg: Msg): void {
    try {
      e.trace = tracing.process(msg, e, this.traceSource);
      if (e.deliveryCount > 1 && e.trace.recording) {
        e.trace.event("redelivery", { "messaging.nats.delivery_count": e.deliveryCount, attempt: e.attempt });
      }
    } catch (err) {
      e.trace = undefined;
      this.guard.report(`${this.stage.name} tracing`, err);
    }
  }

  private run(e: InFlight): void {
    try {
      e.orderNo = this.stage.parse(e.data);
      if (e.trace) e.trace.setOrderNo(e.orderNo);
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
    this.runner.admit(e);
  }

  /** A late redelivery with no ledger to ask: give it back for a worker that can, and stop. */
  private cannotVerify(e: InFlight): void {
    // Stop first, so giving the order back does not ask for more messages on the way out.
    this.fail(
      new LateRedeliveryError(
        this.stage.name,
        `order ${e.orderNo} (seq ${e.seq}) came back after the ${this.options.duplicateWindowMs} ms duplicate window and no order index is wired to tell whether its output is already stored`,
      ),
    );
    this.release(e, OutcomeKind.Retried, nak(), "late redelivery: no order index to verify it");
  }

  private onHandlerError(e: InFlight, err: unknown): void {
    if (e.settled) return;
    if (e.trace) e.trace.failure(err);
    if (isInvalidOrder(err)) {
      this.output.deadLetter(e, err.reason, err.message);
      return;
    }
    if (e.attempt >= this.options.maxAttempts) {
      const reason = err instanceof HandlerTimeoutError ? TIMEOUT_REASON : MAX_ATTEMPTS_REASON;
      this.output.deadLetter(e, reason, errorMessage(err));
      return;
    }
    this.failures.record(e.seq, e.attempt);
    this.counts.retried++;
    const delay = retryDelayMs(this.options, e.attempt);
    if (e.trace)
      e.trace.event("retry", { attempt: e.attempt, "retry.delay_ms": delay, error: errorMessage(err) });
    if (this.debug) this.logger.debug({ seq: e.seq, attempt: e.attempt, delay, err }, "retrying");
    this.release(e, OutcomeKind.Retried, nak(delay), errorMessage(err));
  }

  /** Acks or naks the input and frees its place, once. */
  private release(e: InFlight, kind: OutcomeKind, body: AckBody, reason?: string): void {
    if (e.settled) return;
    e.settled = true;
    if (!this.nc.isClosed()) {
      try {
        this.nc.publish(e.reply, body);
      } catch (err) {
        // Draining or closing under us: the input comes back after ack wait.
        this.guard.report(`${this.stage.name} ack`, err);
      }
    }
    this.counts.inFlight--;
    if (e.trace) this.endTrace(e, kind, reason);
    if (this.listenerCount("outcome") > 0) this.emitOutcome(e, kind, reason);
    if (this.counts.inFlight + this.pulls.outstanding <= this.options.maxInFlight - this.options.batch)
      this.fill();
  }

  /** Tracing's failure is never the order's: the span is lost, the delivery's outcome stands. */
  private endTrace(e: InFlight, kind: OutcomeKind, reason: string | undefined): void {
    try {
      e.sendSpan?.end(reason ?? kind);
      e.sendSpan = undefined;
      e.trace?.end(kind, reason);
    } catch (err) {
      this.guard.report(`${this.stage.name} tracing`, err);
    }
  }

  /** A listener's failure is its own: logged and counted, never the worker's. */
  private emitOutcome(e: InFlight, kind: OutcomeKind, reason: string | undefined): void {
    try {
      this.emit("outcome", {
        kind,
        stage: this.stage.name,
        seq: e.seq,
        orderNo: e.orderNo || undefined,
        latencyMs: performance.now() - e.receivedAt,
        reason,
      });
    } catch (err) {
      this.guard.report(`${this.stage.name} outcome listener`, err);
    }
  }

  private fail(err: Error): void {
    if (this.state !== "running") return;
    const line = err instanceof OrderflowError ? err.oneLine() : err.message;
    this.logger.error({ err: line }, `${this.stage.name} cannot go on`);
    this.emit("fatal", err);
    void this.stop();
  }

  private logSummary(): void {
    this.logger.info({ ...this.counts, handlerTimeouts: this.runner.timedOut }, `${this.stage.name} summary`);
  }
}
