import type { EventEmitter } from "node:events";
import type { NatsConnection } from "@nats-io/nats-core";
import { type AckBody, nak, working } from "../common/ack-protocol.js";
import type { CallbackGuard } from "../common/callback-guard.js";
import { errorMessage, HandlerTimeoutError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { type ContextScope, OrderContext } from "./handler-context.js";
import type { InFlight } from "./in-flight.js";
import { isBuiltInHandler, type StageDefinition, type StageOutput } from "./stage.js";
import { OutcomeKind, type StageWorkerEvents } from "./stage-worker-types.js";
import { StartGate } from "./start-gate.js";
import type { StageWorkerOptions } from "./worker-options.js";

/** What the runner hands back to the worker that owns it: the rest of an order's way. */
export interface HandlerRunnerHost {
  /** The handler returned an output: publish it. */
  publishOutput(e: InFlight, out: StageOutput): void;
  /** The handler threw, rejected or timed out. */
  handlerFailed(e: InFlight, err: unknown): void;
  /** Acks or naks the input and frees its place, once. */
  release(e: InFlight, kind: OutcomeKind, body: AckBody, reason?: string): void;
}

/** What a runner is built from; all of it bound once, when its worker is built. */
export interface HandlerRunnerParts {
  nc: NatsConnection;
  stage: StageDefinition;
  options: StageWorkerOptions;
  logger: Logger;
  guard: CallbackGuard;
  /** Where `handler` events go (the worker). */
  events: EventEmitter<StageWorkerEvents>;
  host: HandlerRunnerHost;
}

/**
 * The handler side of a StageWorker: starts handler calls as `concurrency` and `rateLimit` allow,
 * queues the rest in arrival order, keeps waiting and running inputs alive with +WPI, and gives up
 * on async calls at `handlerTimeoutMs`. Owned by its worker; what becomes of a call's result is the
 * worker's (HandlerRunnerHost).
 */
export class HandlerRunner {
  /** Deliveries whose async handler is still running. */
  private readonly handling = new Set<InFlight>();
  /** Handler calls running now. */
  private calls = 0;
  private readonly queue: InFlight[] = [];
  private queueHead = 0;
  /** `rateLimit`'s gate, and the timer that starts the queue's head when the gate opens again. */
  private readonly gate: StartGate | undefined;
  private gateTimer: NodeJS.Timeout | undefined;
  /** The worker is stopping: nothing new waits in the queue. */
  private accepting = true;
  /** Stopping past the drain timeout: every delivery still arriving is given back at once. */
  private givingBack = false;
  private timeouts = 0;
  /** The stage runs a built-in handler: no order copy and no context per order (see isBuiltInHandler). */
  private readonly builtIn: boolean;
  private readonly scope: ContextScope;
  private readonly infraNak: AckBody;
  private readonly nc: NatsConnection;
  private readonly stage: StageDefinition;
  private readonly options: StageWorkerOptions;
  private readonly logger: Logger;
  private readonly guard: CallbackGuard;
  private readonly events: EventEmitter<StageWorkerEvents>;
  private readonly host: HandlerRunnerHost;

  constructor(parts: HandlerRunnerParts) {
    ({
      nc: this.nc,
      stage: this.stage,
      options: this.options,
      logger: this.logger,
      guard: this.guard,
      events: this.events,
      host: this.host,
    } = parts);
    this.gate = this.options.rateLimit ? new StartGate(this.options.rateLimit) : undefined;
    this.builtIn = isBuiltInHandler(this.stage.handle);
    this.scope = { logger: this.logger, outputStage: this.stage.outputStage };
    this.infraNak = nak(this.options.infraRetryMs);
  }

  /** Handler calls running now. */
  get running(): number {
    return this.calls;
  }

  /** Handler calls given up on at `handlerTimeoutMs`. */
  get timedOut(): number {
    return this.timeouts;
  }

  /** Handlers running or deliveries waiting for one. */
  get busy(): boolean {
    return this.handling.size > 0 || this.queued() > 0;
  }

  /** Runs the handler now, or queues the delivery (`concurrency`, `rateLimit`). */
  admit(e: InFlight): void {
    if (this.givingBack) {
      this.host.release(e, OutcomeKind.Retried, nak(), `${this.stage.name} is stopping`);
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
    } else if (!this.accepting) {
      this.host.release(e, OutcomeKind.Retried, nak(), `${this.stage.name} is stopping`);
    } else {
      e.keptAliveAt = performance.now();
      this.queue.push(e);
      if (this.gate) this.wakeWhenGateOpens();
    }
  }

  /** A delivery waiting for a handler slot longer than a third of the ack wait gets a +WPI. */
  keepQueuedAlive(): void {
    if (this.queued() === 0) return;
    const now = performance.now();
    const every = this.options.ackWaitMs / 3;
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const e = this.queue[i] as InFlight;
      if (e.settled || now - e.keptAliveAt < every) continue;
      e.keptAliveAt = now;
      this.workInProgress(e);
    }
  }

  /** The worker is stopping: what waits for a start goes back to the server, for any worker. */
  stopAccepting(reason: string): void {
    this.accepting = false;
    this.giveBackWaiting(reason);
  }

  /**
   * Stopping past the drain timeout: abort the handlers still running, give their inputs back, and
   * give back whatever arrives from now on.
   */
  abandon(): void {
    if (this.busy) this.abandonHandlers();
    this.givingBack = true;
  }

  close(): void {
    clearTimeout(this.gateTimer);
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
        this.guard.report(`${this.stage.name} delivery`, err);
        this.host.release(e, OutcomeKind.Retried, this.infraNak, errorMessage(err));
      }
    }
  }

  private wakeWhenGateOpens(): void {
    if (this.gateTimer !== undefined || this.gate === undefined) return;
    this.gateTimer = setTimeout(
      this.guard.wrap(`${this.stage.name} rate limit timer`, () => {
        this.gateTimer = undefined;
        this.next();
      }),
      Math.max(1, Math.ceil(this.gate.waitMs())),
    );
  }

  private workInProgress(e: InFlight): void {
    if (this.nc.isClosed()) return;
    try {
      this.nc.publish(e.reply, working());
    } catch (err) {
      this.guard.report(`${this.stage.name} in-progress ack`, err);
    }
  }

  private invoke(e: InFlight): void {
    let out: StageOutput | Promise<StageOutput>;
    this.calls++;
    try {
      if (this.builtIn) {
        // The built-ins read order.data only (isBuiltInHandler): they get the record and no context.
        out = this.stage.handle(e, undefined as never);
      } else {
        const ctx = new OrderContext(e, this.scope);
        e.ctx = ctx;
        const order = e.toOrderInput();
        // Traced: the handler runs with the delivery's span active, so its own instrumented calls
        // (fetch, a database client) are that span's children.
        out = e.trace ? e.trace.run(() => this.stage.handle(order, ctx)) : this.stage.handle(order, ctx);
      }
    } catch (err) {
      this.callEnded();
      this.host.handlerFailed(e, err);
      return;
    }
    if (out instanceof Promise) {
      this.watchHandler(e);
      out
        .then(
          (o) => {
            if (this.handlerFinished(e)) this.host.publishOutput(e, o);
          },
          (err: unknown) => {
            if (this.handlerFinished(e)) this.host.handlerFailed(e, err);
          },
        )
        .catch((err: unknown) => {
          this.guard.report(`${this.stage.name} handler result`, err);
          this.host.release(e, OutcomeKind.Retried, this.infraNak, errorMessage(err));
        });
    } else {
      this.callEnded();
      this.host.publishOutput(e, out);
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
      this.guard.wrap(`${this.stage.name} handler timer`, () => this.onHandlerTimer(e)),
      wait,
    );
  }

  private onHandlerTimer(e: InFlight): void {
    if (e.handlerDone || e.settled) return;
    if (performance.now() - e.handlerStartedAt >= this.options.handlerTimeoutMs) {
      this.timeouts++;
      this.handlerFinished(e, true);
      const err = new HandlerTimeoutError(this.options.handlerTimeoutMs);
      e.ctx?.abort(err);
      this.logger.warn({ seq: e.seq, orderNo: e.orderNo, attempt: e.attempt }, err.message);
      this.host.handlerFailed(e, err);
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
    if (this.events.listenerCount("handler") > 0) {
      const call = { stage: this.stage.name, durationMs: performance.now() - e.handlerStartedAt, timedOut };
      try {
        this.events.emit("handler", call);
      } catch (err) {
        this.guard.report(`${this.stage.name} handler listener`, err);
      }
    }
    return true;
  }

  /** Gives the deliveries still waiting for a start back to the server, for any worker. */
  private giveBackWaiting(reason: string): void {
    const waiting = this.queue.slice(this.queueHead);
    this.queue.length = 0;
    this.queueHead = 0;
    for (const e of waiting) this.host.release(e, OutcomeKind.Retried, nak(), reason);
  }

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
      this.host.release(e, OutcomeKind.Retried, nak(), reason.message);
    }
  }
}
