import type { Msg, MsgHdrs } from "@nats-io/nats-core";

/**
 * What orderflow asks of tracing, with no OpenTelemetry in it: the stage worker, the publishers and
 * the replay are handed a `Tracing` when it is on (telemetry/tracing.ts loads the SDK behind it) and
 * nothing when it is off, so an untraced process creates no span, context or header and imports no
 * OpenTelemetry module. Spans follow the OpenTelemetry messaging conventions (docs/tracing.md).
 */
export interface Tracing {
  /** The service name spans are reported under (`orderflow-processor`, …). */
  readonly serviceName: string;
  /**
   * A `send` span for one message about to be published: a new trace (or a child of the active
   * span, if any); its context is written into `h` as `traceparent`/`tracestate`. With `linkTo`, the
   * span links to the context found in those headers (a replay links to its dead letter).
   */
  send(h: MsgHdrs, facts: SendFacts): SendSpan;
  /**
   * A `process` span for one delivery, the child of the context in the input's headers, if any.
   * Only `traceparent` (and `tracestate`) are read from the message, and `delivery` and `source` only
   * when the delivery is sampled: a sampled-out order costs no decoding.
   */
  process(input: Msg, delivery: Delivery, source: DeliverySource): DeliverySpan;
  /** Exports what is buffered and stops; for the command's stop path. */
  shutdown(): Promise<void>;
}

export interface SendFacts {
  subject: string;
  stream?: string;
  /** The Nats-Msg-Id the message is published with. */
  msgId?: string;
  orderNo?: string;
  /** Headers holding a context to link to (a dead letter's, read back from the stream). */
  linkTo?: Readonly<Record<string, string>>;
}

export interface SendSpan {
  /** The publish ended: stored (no argument) or failed. */
  end(error?: unknown): void;
}

/** One delivery, as a span records it (read only when the delivery is sampled). */
export interface Delivery {
  /** The input's subject. */
  readonly subject: string;
  /** Its stream sequence. */
  readonly seq: number;
  readonly deliveryCount: number;
}

/** Where a stage's deliveries come from: the same for every delivery of one worker. */
export interface DeliverySource {
  readonly stream: string;
  readonly consumer: string;
}

/** Attribute values an event may carry. */
export type EventAttributes = Record<string, string | number | boolean>;

export interface DeliverySpan {
  /** Whether this delivery is sampled: spans and events are recorded only then. */
  readonly recording: boolean;
  /** Runs `fn` with this delivery's span active (a handler's own instrumented calls become children). */
  run<T>(fn: () => T): T;
  /** The order number, once read from the payload. */
  setOrderNo(orderNo: string): void;
  /** `retry`, `dead_letter`, `redelivery`, … */
  event(name: string, attributes?: EventAttributes): void;
  /** Records a handler's failure on the span (as an exception event). */
  failure(error: unknown): void;
  /** The `send` span of this delivery's output or dead letter, a child of the process span. */
  send(h: MsgHdrs, facts: SendFacts): SendSpan;
  /** The delivery was released: done (status unset), dead-lettered or retried (status ERROR). */
  end(outcome: "done" | "dead-lettered" | "retried", reason?: string): void;
  /** `trace_id` and `span_id` for a log line written outside the span's context. */
  logFields(): { trace_id: string; span_id: string };
}
