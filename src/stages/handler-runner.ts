import { EventEmitter } from "node:events";
import type { NatsConnection } from "@nats-io/nats-core";
import { guard, reportCallbackError } from "../common/callback-guard.js";
import { errorMessage, HandlerTimeoutError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { type HandlerContext, OrderContext } from "./handler-context.js";
import { type InFlight, NAK_NOW, WPI } from "./in-flight.js";
import { outputMsgId, type StageDefinition, type StageOutput } from "./stage.js";
import { OutcomeKind, type StageStats, type StageWorkerEvents } from "./stage-worker-types.js";
import { StartGate } from "./start-gate.js";
import type { StageWorkerOptions } from "./worker-options.js";

export type WorkerState = "new" | "running" | "stopping" | "stopped";

/**
 * The handler side of a StageWorker: starts handler calls as `concurrency` and `rateLimit` allow,
 * queues the rest in arrival order, keeps waiting and running inputs alive with +WPI, and gives up
 * on async calls at `handlerTimeoutMs`. A base class rather than a member object: every delivery
 * passes through here, and a call on the worker itself costs no hop through another object.
 */
export abstract class HandlerRunner extends EventEmitter<StageWorkerEvents> {
  /** Deliveries whose async handler is still running. */
  protected readonly handling = new Set<InFlight>();
  /** Handler calls running now, and the deliveries waiting for one to end (`concurrency`). */
  protected calls = 0;
  private readonly queue: InFlight[] = [];
  private queueHead = 0;
  /** `rateLimit`'s gate, and the timer that starts the queue's head when the gate opens again. */
  private readonly gate: StartGate | undefined;
  protected gateTimer: NodeJS.Timeout | undefined;
  /** Stopping past the drain timeout: every delivery still arriving is given back at once. */
  protected givingBack = false;
  protected state: WorkerState = "new";
  protected readonly counts: Omit<StageStats, "pullsOutstanding" | "handlersRunning"> = {
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

  constructor(
    protected readonly nc: NatsConnection,
    readonly stage: StageDefinition,
    readonly options: StageWorkerOptions,
    protected readonly logger: Logger,
  ) {
    super();
    this.gate = options.rateLimit ? new StartGate(options.rateLimit) : undefined;
  }

  protected abstract publishOutput(e: InFlight, out: StageOutput): void;
  protected abstract onHandlerError(e: InFlight, err: unknown): void;
  /** Acks or naks the input and frees its place, once. */
  protected abstract release(
    e: InFlight,
    kind: OutcomeKind,
    reply: Uint8Array | string,
    reason?: string,
  ): void;
  protected abstract infraNak(): string;

  /** Runs the handler now, or queues the delivery (`concurrency`, `rateLimit`). */
  protected admit(e: InFlight): void {
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

  protected queued(): number {
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
  protected keepQueuedAlive(): void {
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
  protected handlerFinished(e: InFlight, timedOut = false): boolean {
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
  protected giveBackWaiting(reason: string): void {
    const waiting = this.queue.slice(this.queueHead);
    this.queue.length = 0;
    this.queueHead = 0;
    for (const e of waiting) this.release(e, OutcomeKind.Retried, NAK_NOW, reason);
  }

  /** Stopping past the drain timeout: abort the handlers still running and give their inputs back. */
  protected abandonHandlers(): void {
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

  /** A listener's failure is its own: logged and counted, never the worker's. */
  protected emitOutcome(e: InFlight, kind: OutcomeKind, reason: string | undefined): void {
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
}
