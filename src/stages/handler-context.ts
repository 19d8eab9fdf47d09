import type { MsgHdrs } from "@nats-io/nats-core";
import { errorMessage } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { msgIdOf } from "./payload.js";

/** What a handler gets beside the order: everything about this one delivery. */
export interface HandlerContext {
  /** Aborted when the handler runs past `--handler-timeout` and when the worker gives up on stopping. */
  readonly signal: AbortSignal;
  /** Handler tries of this order so far + 1 (what `--max-attempts` counts). */
  readonly attempt: number;
  /** The server's delivery count (infrastructure redeliveries included). */
  readonly deliveryCount: number;
  /** Stream sequence of the input message. */
  readonly seq: number;
  /** The input's headers, read on first use; empty when it had none or they could not be decoded. */
  readonly headers: ReadonlyMap<string, string>;
  /** Adds a header to the output. `Nats-Msg-Id` is the worker's and cannot be set. */
  setHeader(name: string, value: string): void;
  /** A child of the worker's logger bound to this order's number and stream sequence. */
  readonly logger: Logger;
  /**
   * The output's `Nats-Msg-Id` (`<orderNo>:<outputStage>`): the same on every redelivery and retry
   * of this order, so a side effect keyed by it happens once downstream.
   */
  readonly idempotencyKey: string;
}

export const MSG_ID_HEADER = "Nats-Msg-Id";

/** Where a context reads its delivery from; the worker's in-flight record. */
export interface DeliveryView {
  readonly orderNo: string;
  readonly seq: number;
  readonly attempt: number;
  readonly deliveryCount: number;
  /** The raw input headers; reading them may throw (a header the decoder rejects). */
  inputHeaders(): MsgHdrs | undefined;
}

/** What every context of one worker shares: bound once when the worker is built. */
export interface ContextScope {
  readonly logger: Logger;
  /** The output's stage word: the idempotency key is `<orderNo>:<outputStage>`. */
  readonly outputStage: string;
}

/**
 * One handler call's context. The object itself is two references; every part a handler may read
 * (the key, the signal, the headers, the logger) is made on first use, so a handler that never
 * touches its context costs one small object per order.
 */
export class OrderContext implements HandlerContext {
  private controller: AbortController | undefined;
  private headerMap: Map<string, string> | undefined;
  private childLogger: Logger | undefined;
  private key: string | undefined;
  /** Output headers the handler set, in order; undefined until it sets one. */
  output: Map<string, string> | undefined;

  constructor(
    private readonly delivery: DeliveryView,
    private readonly scope: ContextScope,
  ) {}

  get idempotencyKey(): string {
    this.key ??= msgIdOf(this.delivery.orderNo, this.scope.outputStage);
    return this.key;
  }

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  get attempt(): number {
    return this.delivery.attempt;
  }

  get deliveryCount(): number {
    return this.delivery.deliveryCount;
  }

  get seq(): number {
    return this.delivery.seq;
  }

  get headers(): ReadonlyMap<string, string> {
    this.headerMap ??= this.readHeaders();
    return this.headerMap;
  }

  get logger(): Logger {
    this.childLogger ??= this.scope.logger.child({ orderNo: this.delivery.orderNo, seq: this.delivery.seq });
    return this.childLogger;
  }

  setHeader(name: string, value: string): void {
    if (typeof name !== "string" || typeof value !== "string") {
      throw new TypeError("setHeader takes a header name and a value, both strings");
    }
    if (name.toLowerCase() === MSG_ID_HEADER.toLowerCase()) {
      throw new TypeError(`${MSG_ID_HEADER} is set by the worker (it is ctx.idempotencyKey)`);
    }
    this.output ??= new Map();
    this.output.set(name, value);
  }

  abort(reason: Error): void {
    // Also when the signal was not read yet: a handler that reads it later sees it aborted.
    this.controller ??= new AbortController();
    this.controller.abort(reason);
  }

  /** The decoder runs in the client's callback otherwise: a throw here must stay here. */
  private readHeaders(): Map<string, string> {
    const out = new Map<string, string>();
    try {
      const h = this.delivery.inputHeaders();
      for (const k of h?.keys() ?? []) out.set(k, h?.get(k) ?? "");
    } catch (err) {
      this.logger.warn(
        { err: errorMessage(err) },
        "input headers could not be decoded; the handler sees none",
      );
      out.clear();
    }
    return out;
  }
}
