import { EventEmitter } from "node:events";
import {
  headers,
  type Msg,
  type MsgHdrs,
  MsgHdrsImpl,
  type NatsConnection,
  PermissionViolationError,
} from "@nats-io/nats-core";
import { parseAckSubject, readDelivery } from "../common/ack-subject.js";
import { guard, reportCallbackError } from "../common/callback-guard.js";
import {
  errorMessage,
  HandlerTimeoutError,
  InvalidOrderError,
  PermissionError,
  type PublishError,
} from "../common/errors.js";
import { type Logger, silentLogger } from "../common/logger.js";
import {
  DeadLetterHeader,
  deadLetterMsgId,
  headerSafe,
  MAX_ATTEMPTS_REASON,
  OUTPUT_TOO_LARGE_REASON,
  TIMEOUT_REASON,
} from "./dead-letter.js";
import { type HandlerContext, OrderContext } from "./handler-context.js";
import { HandlerFailures } from "./handler-failures.js";
import { LateRedeliveries, type OutputLedger, pastDuplicateWindow } from "./output-ledger.js";
import { orderIdKey } from "./payload.js";
import { PubAckWindow } from "./pub-ack-window.js";
import { PullRequester } from "./pull-requester.js";
import {
  encodeOutput,
  type OrderInput,
  outputMsgId,
  type StageDefinition,
  type StageOutput,
} from "./stage.js";
import { StartGate } from "./start-gate.js";
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
  /** Late redeliveries acked without a second output: the order index showed it stored. */
  alreadyStored: number;
  /** Late redeliveries held (nak'ed with a delay) because no index could tell. */
  lateHeld: number;
  inFlight: number;
  /** Messages asked for in pull requests and not yet delivered: the open part of the pull window. */
  pullsOutstanding: number;
  /** Handler calls running now (async ones between start and result or timeout). */
  handlersRunning: number;
  /** Handler calls given up on at `handlerTimeoutMs`. */
  handlerTimeouts: number;
}

/** One async handler call that ended; emitted as `handler` only when someone listens. */
export interface HandlerCall {
  stage: string;
  durationMs: number;
  timedOut: boolean;
}

export interface StageWorkerEvents {
  outcome: [Outcome];
  /**
   * An async handler call ended (result, error, timeout or abandoned on stop). Synchronous handlers,
   * the built-in stages among them, are not timed: they take microseconds.
   */
  handler: [HandlerCall];
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
  attempt = 1;
  /** Set when the message being published for this input is a dead letter. */
  deadLetterReason: string | undefined = undefined;
  /** Acked or nak'ed: its place is free, and nothing more may be done with it. */
  settled = false;
  readonly receivedAt = performance.now();
  /** Only for handlers that take a context (see StageDefinition.handle). */
  ctx: OrderContext | undefined = undefined;
  /** The handler's result was taken (or given up on at its timeout): a late one is discarded. */
  handlerDone = false;
  /** When an async handler started; drives its timeout and its +WPI. */
  handlerStartedAt = 0;
  timer: NodeJS.Timeout | undefined = undefined;
  /** While waiting for a free handler slot (`concurrency`): when its input was last kept alive. */
  keptAliveAt = 0;
  readonly data: Uint8Array;
  readonly reply: string;
  constructor(private readonly msg: Msg) {
    this.data = msg.data;
    this.reply = msg.reply as string;
  }

  /** Decoded on first read (the client decodes it from bytes): only a dead letter needs it. */
  get subject(): string {
    return this.msg.subject;
  }

  /**
   * Decoding headers can throw; only a context reads them, and inside a try. A method, not an arrow
   * property: that would be one closure per delivery.
   */
  inputHeaders(): MsgHdrs | undefined {
    return this.msg.headers;
  }
}

/** An InvalidOrderError, also from a handler module loaded with its own copy of orderflow. */
function isInvalidOrder(err: unknown): err is InvalidOrderError {
  return (
    err instanceof InvalidOrderError ||
    (err instanceof Error &&
      err.name === "InvalidOrderError" &&
      typeof (err as { reason?: unknown }).reason === "string")
  );
}

const ACK = new TextEncoder().encode("+ACK");
const WPI = new TextEncoder().encode("+WPI");
/** No delay: a worker that is stopping gives an input back for another worker to take at once. */
const NAK_NOW = new TextEncoder().encode("-NAK");
const MSG_ID = "Nats-Msg-Id";
/** Room kept under max_payload for the protocol line and headers when sizing a payload. */
const SMALL_ENOUGH = 4_096;

type State = "new" | "running" | "stopping" | "stopped";

/** Encoded size of headers as the client will send them (`headers()` makes an MsgHdrsImpl). */
function headerBytes(h: MsgHdrs | undefined): number {
  return h ? (h as MsgHdrsImpl).encode().length : 0;
}

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
  readonly options: StageWorkerOptions;
  private readonly logger: Logger;
  private readonly debug: boolean;
  private readonly pulls: PullRequester;
  private readonly window: PubAckWindow<InFlight>;
  private readonly delivery = { deliveryCount: 0, streamSeq: 0 };
  private readonly failures = new HandlerFailures();
  /** Deliveries whose async handler is still running. */
  private readonly handling = new Set<InFlight>();
  /** Handler calls running now, and the deliveries waiting for one to end (`concurrency`). */
  private calls = 0;
  private readonly queue: InFlight[] = [];
  private queueHead = 0;
  /** `rateLimit`'s gate, and the timer that starts the queue's head when the gate opens again. */
  private readonly gate: StartGate | undefined;
  private gateTimer: NodeJS.Timeout | undefined;
  /** Stopping past the drain timeout: every delivery still arriving is given back at once. */
  private givingBack = false;
  private state: State = "new";
  private stopPromise: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private summaryTimer: NodeJS.Timeout | undefined;
  private pausedUntil = 0;
  private lastProblem = "";
  private readonly counts: Omit<StageStats, "pullsOutstanding" | "handlersRunning"> = {
    processed: 0,
    deadLettered: 0,
    retried: 0,
    infraErrors: 0,
    redelivered: 0,
    alreadyStored: 0,
    lateHeld: 0,
    inFlight: 0,
    handlerTimeouts: 0,
  };
  private readonly ledger: OutputLedger | undefined;
  private lateWarnedAt = 0;

  constructor(
    private readonly nc: NatsConnection,
    readonly stage: StageDefinition,
    options: Partial<StageWorkerOptions> = {},
    deps: { logger?: Logger; outputLedger?: OutputLedger } = {},
  ) {
    super();
    this.options = stageWorkerOptions(options);
    this.ledger = deps.outputLedger;
    this.logger = (deps.logger ?? silentLogger).child({ stage: stage.name, consumer: stage.consumer });
    this.debug = this.logger.isLevelEnabled("debug");
    this.gate = this.options.rateLimit ? new StartGate(this.options.rateLimit) : undefined;
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
    this.watchConnection();
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
    if (!this.nc.isClosed() && !this.nc.isDraining()) {
      // While disconnected a flush cannot complete, and the acks written meanwhile are lost: the
      // client drops its outbound buffer when it reconnects. Their inputs come back after ack wait
      // and the outputs' msg ids make the second publish a duplicate (docs/reliability.md).
      await this.nc
        .flush()
        .catch((err: unknown) =>
          this.logger.warn({ err: errorMessage(err) }, "could not flush acks on stop"),
        );
    }
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
    if (e.deliveryCount > 1 && this.options.lateRedeliveries === LateRedeliveries.Verify && this.isLate(e)) {
      this.verifyLate(e);
      return;
    }
    this.admit(e);
  }

  /** Runs the handler now, or queues the delivery (`concurrency`, `rateLimit`). */
  private admit(e: InFlight): void {
    if (this.givingBack) {
      this.release(e, OutcomeKind.Retried, NAK_NOW, `${this.stage.name} is stopping`);
      return;
    }
    const { concurrency } = this.options;
    // FIFO: while anyone waits, a new delivery waits behind them.
    const wait =
      (concurrency > 0 && this.calls >= concurrency) ||
      this.queued() > 0 ||
      (this.gate !== undefined && !this.gate.tryTake());
    if (!wait) {
      this.invoke(e);
    } else if (this.state !== "running") {
      this.release(e, OutcomeKind.Retried, NAK_NOW, `${this.stage.name} is stopping`);
    } else {
      e.keptAliveAt = performance.now();
      this.queue.push(e);
      if (this.gate) this.wakeWhenGateOpens();
    }
  }

  private isLate(e: InFlight): boolean {
    const d = parseAckSubject(e.reply);
    return d !== undefined && pastDuplicateWindow(d.timestampMs, Date.now(), this.options.duplicateWindowMs);
  }

  /**
   * A redelivery past the duplicate window: dedupe can no longer absorb a second output, so the
   * order index says whether the first attempt stored one. Where it cannot tell, the input is held
   * (an order late is better than an order shipped twice) and tried again after lateHoldMs.
   */
  private verifyLate(e: InFlight): void {
    const asked = this.ledger
      ? this.ledger.hasOutput({
          orderNo: e.orderNo,
          outputSubject: this.stage.outputSubject,
          afterSeq: e.seq,
        })
      : Promise.resolve(undefined);
    asked
      .then((stored) => {
        if (e.settled) return;
        if (stored === true) {
          this.counts.alreadyStored++;
          this.logger.info(
            { seq: e.seq, orderNo: e.orderNo, deliveries: e.deliveryCount },
            "late redelivery: the output is already stored; acked without a second one",
          );
          this.release(e, OutcomeKind.Done, ACK, "output already stored");
        } else if (stored === false) {
          this.admit(e);
        } else {
          this.holdLate(e);
        }
      })
      .catch((err: unknown) => {
        reportCallbackError(`${this.stage.name} late redelivery check`, err, this.logger);
        if (!e.settled) this.holdLate(e);
      });
  }

  private holdLate(e: InFlight): void {
    this.counts.lateHeld++;
    const now = Date.now();
    if (now - this.lateWarnedAt > 30_000) {
      this.lateWarnedAt = now;
      this.logger.warn(
        { seq: e.seq, orderNo: e.orderNo, held: this.counts.lateHeld },
        "late redelivery held: no order index can tell whether its output is already stored; run `orderflow indexer` (or `up`), or --late-redeliveries publish to accept a possible second output",
      );
    }
    this.release(
      e,
      OutcomeKind.Retried,
      `-NAK {"delay":${this.options.lateHoldMs * 1_000_000}}`,
      "late redelivery held",
    );
  }

  private queued(): number {
    return this.queue.length - this.queueHead;
  }

  /** Starts queued handlers while there are free slots (and the rate gate lets them). */
  private next(): void {
    const { concurrency } = this.options;
    while (this.queued() > 0 && (concurrency === 0 || this.calls < concurrency)) {
      const e = this.queue[this.queueHead] as InFlight;
      if (!e.settled && this.gate !== undefined && !this.gate.tryTake()) {
        this.wakeWhenGateOpens();
        return;
      }
      this.queue[this.queueHead++] = undefined as unknown as InFlight;
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue.splice(0, this.queueHead);
        this.queueHead = 0;
      }
      if (e.settled) continue;
      try {
        this.invoke(e);
      } catch (err) {
        reportCallbackError(`${this.stage.name} delivery`, err, this.logger);
        this.release(e, OutcomeKind.Retried, this.infraNak(), errorMessage(err));
      }
    }
  }

  private wakeWhenGateOpens(): void {
    if (this.gateTimer !== undefined || this.gate === undefined) return;
    this.gateTimer = setTimeout(
      guard(`${this.stage.name} rate limit timer`, this.logger, () => {
        this.gateTimer = undefined;
        this.next();
      }),
      Math.max(1, Math.ceil(this.gate.waitMs())),
    );
  }

  /** A delivery waiting for a handler slot longer than a third of the ack wait gets a +WPI. */
  private keepQueuedAlive(): void {
    const now = performance.now();
    const every = this.options.ackWaitMs / 3;
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const e = this.queue[i] as InFlight;
      if (e.settled || now - e.keptAliveAt < every) continue;
      e.keptAliveAt = now;
      this.workInProgress(e);
    }
  }

  private workInProgress(e: InFlight): void {
    if (this.nc.isClosed()) return;
    try {
      this.nc.publish(e.reply, WPI);
    } catch (err) {
      reportCallbackError(`${this.stage.name} in-progress ack`, err, this.logger);
    }
  }

  private invoke(e: InFlight): void {
    let out: StageOutput | Promise<StageOutput>;
    this.calls++;
    try {
      if (this.stage.handle.length > 1) {
        e.ctx = new OrderContext(e, this.logger, outputMsgId(this.stage, e.orderNo));
      }
      // A one-parameter handler never reads its context; none is built for it.
      out = this.stage.handle(e, e.ctx as HandlerContext);
    } catch (err) {
      this.callEnded();
      this.onHandlerError(e, err);
      return;
    }
    if (out instanceof Promise) {
      this.watchHandler(e);
      out
        .then(
          (o) => {
            if (this.handlerFinished(e)) this.publishOutput(e, o);
          },
          (err: unknown) => {
            if (this.handlerFinished(e)) this.onHandlerError(e, err);
          },
        )
        .catch((err: unknown) => {
          reportCallbackError(`${this.stage.name} handler result`, err, this.logger);
          this.release(e, OutcomeKind.Retried, this.infraNak(), errorMessage(err));
        });
    } else {
      this.callEnded();
      this.publishOutput(e, out);
    }
  }

  private callEnded(): void {
    this.calls--;
    if (this.queued() > 0) this.next();
  }

  /**
   * Keeps an async handler's input alive with +WPI every third of the ack wait (so it is not
   * redelivered mid-run) and gives up on it at the handler timeout. One timer per running handler.
   */
  private watchHandler(e: InFlight): void {
    e.handlerStartedAt = performance.now();
    this.handling.add(e);
    this.schedule(e);
  }

  private schedule(e: InFlight): void {
    const { handlerTimeoutMs, ackWaitMs } = this.options;
    const remaining = handlerTimeoutMs - (performance.now() - e.handlerStartedAt);
    const wait = Math.max(1, Math.min(remaining, Math.floor(ackWaitMs / 3)));
    e.timer = setTimeout(
      guard(`${this.stage.name} handler timer`, this.logger, () => this.onHandlerTimer(e)),
      wait,
    );
  }

  private onHandlerTimer(e: InFlight): void {
    if (e.handlerDone || e.settled) return;
    if (performance.now() - e.handlerStartedAt >= this.options.handlerTimeoutMs) {
      this.counts.handlerTimeouts++;
      this.handlerFinished(e, true);
      const err = new HandlerTimeoutError(this.options.handlerTimeoutMs);
      e.ctx?.abort(err);
      this.logger.warn({ seq: e.seq, orderNo: e.orderNo, attempt: e.attempt }, err.message);
      this.onHandlerError(e, err);
      return;
    }
    this.workInProgress(e);
    this.schedule(e);
  }

  /** Takes an async handler's result once; false when it came too late (timed out or abandoned). */
  private handlerFinished(e: InFlight, timedOut = false): boolean {
    if (e.handlerDone) return false;
    e.handlerDone = true;
    clearTimeout(e.timer);
    this.handling.delete(e);
    this.callEnded();
    if (this.listenerCount("handler") > 0) {
      const call = { stage: this.stage.name, durationMs: performance.now() - e.handlerStartedAt, timedOut };
      try {
        this.emit("handler", call);
      } catch (err) {
        reportCallbackError(`${this.stage.name} handler listener`, err, this.logger);
      }
    }
    return true;
  }

  /** Gives the deliveries still waiting for a start back to the server, for any worker. */
  private giveBackWaiting(reason: string): void {
    const waiting = this.queue.slice(this.queueHead);
    this.queue.length = 0;
    this.queueHead = 0;
    for (const e of waiting) this.release(e, OutcomeKind.Retried, NAK_NOW, reason);
  }

  /** Stopping past the drain timeout: abort the handlers still running and give their inputs back. */
  private abandonHandlers(): void {
    const reason = new Error(`${this.stage.name} is stopping`);
    this.giveBackWaiting(reason.message);
    if (this.handling.size > 0) {
      this.logger.warn(
        { handlers: this.handling.size, drainTimeoutMs: this.options.drainTimeoutMs },
        "drain timeout: aborting running handlers and giving their orders back",
      );
    }
    for (const e of [...this.handling]) {
      this.handlerFinished(e);
      e.ctx?.abort(reason);
      this.release(e, OutcomeKind.Retried, NAK_NOW, reason.message);
    }
  }

  private publishOutput(e: InFlight, out: StageOutput): void {
    if (e.settled) return; // given up on meanwhile (stop() past its deadline)
    let data: Uint8Array;
    let h: MsgHdrs | undefined;
    try {
      data = encodeOutput(out);
      if (e.ctx?.output) {
        h = headers();
        for (const [k, v] of e.ctx.output) h.set(k, v);
        if (this.options.msgIds) h.set(MSG_ID, outputMsgId(this.stage, e.orderNo));
      } else if (this.options.msgIds) {
        // The common case, once per order: fromRecord skips what set() does per call (key lookups
        // twice, MIME canonicalisation, a regex on the value). The id needs none of it: order
        // numbers have no control characters (payload.ts), so no CR or LF, and it is not trimmed.
        h = MsgHdrsImpl.fromRecord({ "Nats-Msg-Id": [outputMsgId(this.stage, e.orderNo)] });
      }
    } catch (err) {
      this.onHandlerError(e, err);
      return;
    }
    if (data.length + SMALL_ENOUGH > this.maxPayload() && this.tooLarge(data, h)) {
      this.deadLetter(
        e,
        OUTPUT_TOO_LARGE_REASON,
        `output of ${data.length} bytes does not fit the server's max_payload of ${this.maxPayload()} bytes`,
      );
      return;
    }
    if (this.debug) this.logger.debug({ orderNo: e.orderNo, seq: e.seq }, "publishing");
    this.window.publish(this.stage.outputSubject, data, h, e);
  }

  private onHandlerError(e: InFlight, err: unknown): void {
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
    const h = headers();
    h.set(MSG_ID, deadLetterMsgId(this.stage.consumer, e.seq));
    h.set(DeadLetterHeader.Stage, this.stage.name);
    h.set(DeadLetterHeader.Reason, headerSafe(reason, 64));
    h.set(DeadLetterHeader.Error, headerSafe(detail));
    h.set(DeadLetterHeader.SourceSeq, String(e.seq));
    h.set(DeadLetterHeader.SourceSubject, e.subject);
    h.set(DeadLetterHeader.Deliveries, String(e.deliveryCount));
    if (e.orderNo) h.set(DeadLetterHeader.OrderNo, headerSafe(orderIdKey(e.orderNo)));
    let data = e.data;
    if (data.length + SMALL_ENOUGH > this.maxPayload() && this.tooLarge(data, h)) {
      // The original stays in the stream at its source seq; the dead letter says so and fits.
      h.set(DeadLetterHeader.Truncated, "true");
      h.set(DeadLetterHeader.PayloadBytes, String(data.length));
      data = data.subarray(0, Math.max(0, this.maxPayload() - headerBytes(h) - SMALL_ENOUGH));
    }
    this.logger.warn({ seq: e.seq, reason, detail }, "dead-lettering order");
    this.window.publish(this.options.failedSubject, data, h, e);
  }

  /** The server's limit for one message (payload and headers), 1 MB unless configured. */
  private maxPayload(): number {
    return this.nc.info?.max_payload ?? 1024 * 1024;
  }

  private tooLarge(data: Uint8Array, h: MsgHdrs | undefined): boolean {
    return data.length + headerBytes(h) > this.maxPayload();
  }

  private infraNak(): string {
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
  private release(e: InFlight, kind: OutcomeKind, reply: Uint8Array | string, reason?: string): void {
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
      reportCallbackError(`${this.stage.name} outcome listener`, err, this.logger);
    }
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
