import type { Msg, MsgHdrs } from "@nats-io/nats-core";
import { InvalidOrderError } from "../common/errors.js";
import type { DeliverySpan, SendSpan } from "../common/tracing.js";
import type { OrderContext } from "./handler-context.js";
import type { OrderInput } from "./stage.js";

/**
 * One delivery between its arrival and its ack: the worker's own record, never a handler's. It has
 * the shape of an OrderInput only so the built-in stages, which read `order.data` and nothing else,
 * can be handed it without a copy (see HandlerRunner).
 */
export class InFlight implements OrderInput {
  orderNo = "";
  seq = 0;
  deliveryCount = 0;
  attempt = 1;
  /** Set when the message being published for this input is a dead letter. */
  deadLetterReason: string | undefined = undefined;
  /** Acked or nak'ed: its place is free, and nothing more may be done with it. */
  settled = false;
  readonly receivedAt = performance.now();
  /** The handler's context; undefined for the built-in stages, which get none. */
  ctx: OrderContext | undefined = undefined;
  /** The handler's result was taken (or given up on at its timeout): a late one is discarded. */
  handlerDone = false;
  /** When an async handler started; drives its timeout and its +WPI. */
  handlerStartedAt = 0;
  timer: NodeJS.Timeout | undefined = undefined;
  /** This delivery's `process` span; only when the worker was given a Tracing. */
  trace: DeliverySpan | undefined = undefined;
  /** The `send` span of the publish awaiting its PubAck (output or dead letter), when traced. */
  sendSpan: SendSpan | undefined = undefined;
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

  /** What a handler gets: a plain, frozen copy, with nothing of the worker's bookkeeping. */
  toOrderInput(): OrderInput {
    return Object.freeze({
      orderNo: this.orderNo,
      data: this.data,
      seq: this.seq,
      deliveryCount: this.deliveryCount,
      attempt: this.attempt,
    });
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
export function isInvalidOrder(err: unknown): err is InvalidOrderError {
  return (
    err instanceof InvalidOrderError ||
    (err instanceof Error &&
      err.name === "InvalidOrderError" &&
      typeof (err as { reason?: unknown }).reason === "string")
  );
}
