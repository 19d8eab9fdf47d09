import { InvalidOrderError } from "../common/errors.js";
import type { StageSpec } from "../topology/pipeline.js";
import { intakeStep, Stage, stagesOf, subjectOf, type TopologyOptions } from "../topology/spec.js";
import type { HandlerContext } from "./handler-context.js";
import { appendSuffix, msgIdOf, orderNoOf, parseOrderNo, stageSuffix } from "./payload.js";

/** One delivered input order, as a stage handler sees it. */
export interface OrderInput {
  /** The order number, already validated against the grammar in payload.ts. */
  readonly orderNo: string;
  /** The raw input payload. */
  readonly data: Uint8Array;
  /** Stream sequence of the input message. */
  readonly seq: number;
  /** 1 on the first delivery, 2 on the first redelivery, … (infrastructure redeliveries included). */
  readonly deliveryCount: number;
  /**
   * 1 on the handler's first try of this order, 2 after one handler failure, …: what the retry
   * budget (`maxAttempts`) counts. Redeliveries for infrastructure reasons do not raise it.
   */
  readonly attempt: number;
}

/** What a handler returns: the output payload (bytes, or text encoded as UTF-8). */
export type StageOutput = Uint8Array | string;

/**
 * A pipeline stage: consume one pull consumer, turn each order into one output message, publish it
 * with `Nats-Msg-Id: <orderNo>:<outputStage>`, and ack the input after the PubAck.
 *
 * `handle` is where business logic goes (the seed's `// TODO`). It may be sync or async. Throw an
 * {@link InvalidOrderError} for an order that can never succeed (it is dead-lettered at once); any
 * other error is retried with backoff and dead-lettered after the worker's max attempts.
 */
export interface StageDefinition {
  /** Name used in logs, metrics and dead-letter headers: `processor`, `dispatcher`, … */
  readonly name: string;
  /** Durable pull consumer to read: `NEW`, `DISPATCH`, … */
  readonly consumer: string;
  /** Subject the output is published to: `ORDERS.processed`, … */
  readonly outputSubject: string;
  /** The output's stage word, used in the message id `<orderNo>:<outputStage>`. */
  readonly outputStage: string;
  /** Reads and validates the order number from the raw input; throws InvalidOrderError. */
  readonly parse: (data: Uint8Array) => string;
  /**
   * Business logic: the output payload for one order. `order` is a plain frozen copy of the
   * delivery; `ctx` is its {@link HandlerContext} (signal, headers, idempotency key, …), given to
   * every handler whatever it declares (`(...args) =>`, default parameters and wrappers included).
   */
  readonly handle: (order: OrderInput, ctx: HandlerContext) => StageOutput | Promise<StageOutput>;
}

export function defineStage(def: StageDefinition): StageDefinition {
  if (!def.name || !def.consumer || !def.outputSubject || !def.outputStage) {
    throw new TypeError("a stage needs name, consumer, outputSubject and outputStage");
  }
  return Object.freeze({ ...def });
}

/** Message id of a stage's output for an order. */
export function outputMsgId(stage: StageDefinition, orderNo: string): string {
  return msgIdOf(orderNo, stage.outputStage);
}

const PROCESSED = stageSuffix(Stage.Processed);
const encoder = new TextEncoder();

/** The built-in transformations: they read `order.data` and nothing else. */
const builtInHandlers = new WeakSet<StageDefinition["handle"]>();

/** The first stage's built-in handler: `<orderNo>` → `<orderNo>,<output>` (the seed's processor). */
function intakeHandle(output: string): StageDefinition["handle"] {
  const suffix = stageSuffix(output);
  const handle = (order: OrderInput): StageOutput => appendSuffix(order.data, suffix);
  builtInHandlers.add(handle);
  return handle;
}

/** A later stage's built-in handler: `<orderNo>,<input>` → `<orderNo>,<output>` (the seed's dispatcher). */
function stepHandle(input: string, output: string): StageDefinition["handle"] {
  const inSuffix = stageSuffix(input);
  const outSuffix = stageSuffix(output);
  const handle = (order: OrderInput): StageOutput => {
    const data = order.data;
    const n = data.length - inSuffix.length;
    const out = new Uint8Array(n + outSuffix.length);
    // A loop, not set(data.subarray()): the input is a Node Buffer, whose subarray() makes a new
    // Buffer object per order, for an order number of a few bytes.
    for (let i = 0; i < n; i++) out[i] = data[i] as number;
    out.set(outSuffix, n);
    return out;
  };
  builtInHandlers.add(handle);
  return handle;
}

/**
 * Whether `handle` is one of the built-in stages' own handlers, which read `order.data` and nothing
 * else: the worker hands them its delivery record and no context, so the seed's pipeline makes no
 * copy and no context per order. Anything else, a wrapper around them included, gets both.
 */
export function isBuiltInHandler(handle: StageDefinition["handle"]): boolean {
  return builtInHandlers.has(handle);
}

/**
 * A declared stage with the built-in transformation: the first stage takes the bare order number
 * (`<orderNo>` → `<orderNo>,<output>`), every later one `<orderNo>,<input>` → `<orderNo>,<output>`.
 * For the seed these are its order-processed and order-completed programs, byte for byte. A
 * handler module replaces `handle` and keeps the rest (loadHandlerModule).
 */
export function pipelineStage(t: TopologyOptions, spec: StageSpec): StageDefinition {
  const first = spec.input === intakeStep(t);
  const inSuffix = stageSuffix(spec.input);
  return defineStage({
    name: spec.name,
    consumer: spec.consumer,
    outputSubject: subjectOf(t, spec.output),
    outputStage: spec.output,
    parse: first ? parseOrderNo : (data) => orderNoOf(data, inSuffix),
    handle: first ? intakeHandle(spec.output) : stepHandle(spec.input, spec.output),
  });
}

/** Every stage of the pipeline, built in, in order. */
export function pipelineStages(t: TopologyOptions): StageDefinition[] {
  return stagesOf(t).map((spec) => pipelineStage(t, spec));
}

/** The seed's order-processed program: `<payload>` → `<payload>,processed` on ORDERS.processed. */
export function processorStage(t: TopologyOptions): StageDefinition {
  return defineStage({
    name: "processor",
    consumer: t.newConsumer,
    outputSubject: subjectOf(t, Stage.Processed),
    outputStage: Stage.Processed,
    parse: parseOrderNo,
    handle: intakeHandle(Stage.Processed),
  });
}

/** The seed's order-completed program: `<orderNo>,processed` → `<orderNo>,completed` on ORDERS.completed. */
export function dispatcherStage(t: TopologyOptions): StageDefinition {
  return defineStage({
    name: "dispatcher",
    consumer: t.dispatchConsumer,
    outputSubject: subjectOf(t, Stage.Completed),
    outputStage: Stage.Completed,
    parse: (data) => orderNoOf(data, PROCESSED),
    handle: stepHandle(Stage.Processed, Stage.Completed),
  });
}

/** The output as bytes; anything but bytes or text is the handler's bug (retried, then dead-lettered). */
export function encodeOutput(out: StageOutput): Uint8Array {
  if (typeof out === "string") return encoder.encode(out);
  if (out instanceof Uint8Array) return out;
  throw new TypeError(`the handler returned ${typeof out}; a stage output is a Uint8Array or a string`);
}
