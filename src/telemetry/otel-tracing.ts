/**
 * The OpenTelemetry side of tracing: the official SDK, the OTLP exporter and the undici
 * instrumentation, set up from the standard OTEL_* environment. Imported only by tracing.ts, and
 * only when tracing is on: a process without tracing loads none of this.
 */
import type { Msg, MsgHdrs } from "@nats-io/nats-core";
import {
  type Attributes,
  type Context,
  context,
  createTraceState,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  TraceFlags,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { getNumberFromEnv, W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter as OtlpJsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as OtlpProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { UndiciInstrumentation } from "@opentelemetry/instrumentation-undici";
import {
  detectResources,
  resourceAttributesEnvDetector,
  resourceFromAttributes,
  serviceNameEnvDetector,
} from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  type IdGenerator,
  ParentBasedSampler,
  RandomIdGenerator,
  type Sampler,
  SamplingDecision,
  type SpanExporter,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
import { errorMessage, TracingConfigError } from "../common/errors.js";
import { type Logger, setLogTraceFields } from "../common/logger.js";
import { rawHeader, setHeader } from "../common/raw-headers.js";
import {
  headerIgnoringCase,
  parseTraceparent,
  plainTraceparentFlags,
  TRACEPARENT_HEADER,
  TRACESTATE_HEADER,
  type TraceContext,
} from "../common/trace-context.js";
import type {
  Delivery,
  DeliverySource,
  DeliverySpan,
  EventAttributes,
  SendFacts,
  SendSpan,
  Tracing,
} from "../common/tracing.js";
import { VERSION } from "../common/version.js";

/**
 * Messaging attribute names from the OpenTelemetry semantic conventions. They are still
 * "development" there, and the semantic-conventions package asks users to copy such names rather
 * than import its incubating entry point; NATS-specific ones are under `messaging.nats.*`.
 */
const Attr = {
  System: "messaging.system",
  OperationType: "messaging.operation.type",
  OperationName: "messaging.operation.name",
  Destination: "messaging.destination.name",
  ConsumerGroup: "messaging.consumer.group.name",
  MessageId: "messaging.message.id",
  BodySize: "messaging.message.body.size",
  Stream: "messaging.nats.stream",
  StreamSeq: "messaging.nats.stream_sequence",
  DeliveryCount: "messaging.nats.delivery_count",
  OrderNo: "orderflow.order_no",
  Outcome: "orderflow.outcome",
} as const;

const NATS = "nats";
const SCOPE = "orderflow";

/** NATS headers as a carrier for the W3C propagator, which writes lowercase names. */
const headerSetter: TextMapSetter<MsgHdrs> = {
  set: (h, key, value) => h.set(key, value),
};
const recordGetter: TextMapGetter<Readonly<Record<string, string>>> = {
  keys: (r) => Object.keys(r),
  get: (r, key) => headerIgnoringCase(r, key),
};

function env(e: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = e[name]?.trim();
  return v === undefined || v === "" ? undefined : v;
}

/** OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, as the specification defines them (default parentbased_always_on). */
export function samplerFromEnv(e: NodeJS.ProcessEnv): Sampler {
  const name = (env(e, "OTEL_TRACES_SAMPLER") ?? "parentbased_always_on").toLowerCase();
  const argText = env(e, "OTEL_TRACES_SAMPLER_ARG");
  const ratio = () => {
    const r = argText === undefined ? 1 : Number(argText);
    if (!Number.isFinite(r) || r < 0 || r > 1) {
      throw new TracingConfigError(
        "OTEL_TRACES_SAMPLER_ARG",
        argText ?? "",
        "a ratio from 0 to 1, e.g. 0.01",
      );
    }
    return new TraceIdRatioBasedSampler(r);
  };
  switch (name) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return ratio();
    case "parentbased_always_on":
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: ratio() });
    default:
      throw new TracingConfigError(
        "OTEL_TRACES_SAMPLER",
        name,
        "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio",
      );
  }
}

/**
 * The exporters OTEL_TRACES_EXPORTER names (default `otlp`). OTLP goes over HTTP, as
 * OTEL_EXPORTER_OTLP_TRACES_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL say: `http/protobuf` (the
 * specification's default) or `http/json`; gRPC is not bundled (collectors, Jaeger and Tempo
 * take OTLP/HTTP on 4318). Endpoint, headers, timeout and compression the exporter reads itself.
 */
export function exportersFromEnv(e: NodeJS.ProcessEnv): SpanExporter[] {
  const names = (env(e, "OTEL_TRACES_EXPORTER") ?? "otlp")
    .split(",")
    .map((n) => n.trim().toLowerCase())
    .filter((n) => n !== "" && n !== "none");
  return names.map((n) => {
    if (n === "console") return new ConsoleSpanExporter();
    if (n !== "otlp") throw new TracingConfigError("OTEL_TRACES_EXPORTER", n, "otlp, console or none");
    const variable = env(e, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
      ? "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
      : "OTEL_EXPORTER_OTLP_PROTOCOL";
    const protocol = env(e, variable) ?? "http/protobuf";
    if (protocol === "http/protobuf") return new OtlpProtoExporter();
    if (protocol === "http/json") return new OtlpJsonExporter();
    throw new TracingConfigError(
      variable,
      protocol,
      "http/protobuf or http/json (OTLP over HTTP, port 4318)",
    );
  });
}

/** OTEL_BSP_*: the batch span processor's settings, which this SDK version no longer reads itself. */
function batchProcessor(exporter: SpanExporter): SpanProcessor {
  return new BatchSpanProcessor({
    exporter,
    scheduledDelayMillis: getNumberFromEnv("OTEL_BSP_SCHEDULE_DELAY"),
    exportTimeoutMillis: getNumberFromEnv("OTEL_BSP_EXPORT_TIMEOUT"),
    maxQueueSize: getNumberFromEnv("OTEL_BSP_MAX_QUEUE_SIZE"),
    maxExportBatchSize: getNumberFromEnv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"),
  });
}

/**
 * Sets up the SDK as the process's global tracer provider, context manager (AsyncLocalStorage, so a
 * handler's own async calls stay inside its order's span) and propagator (W3C Trace Context),
 * registers the undici instrumentation (Node's fetch becomes HTTP client spans) and has log lines
 * carry the active span's ids.
 */
export function startOtelTracing(serviceName: string, e: NodeJS.ProcessEnv, logger: Logger): Tracing {
  const sampler = samplerFromEnv(e);
  const exporters = exportersFromEnv(e);
  // Ours first: OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME, override it.
  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: serviceName,
    [ATTR_SERVICE_VERSION]: VERSION,
  }).merge(detectResources({ detectors: [resourceAttributesEnvDetector, serviceNameEnvDetector] }));
  const ids = new DecidedIdGenerator();
  const provider = new TracerProvider({
    resource,
    sampler,
    idGenerator: ids,
    spanProcessors: exporters.map(batchProcessor),
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  const undici = new UndiciInstrumentation();
  undici.setTracerProvider(provider);
  setLogTraceFields(activeSpanFields);
  const name = resource.attributes[ATTR_SERVICE_NAME];
  const tracing = new OtelTracing(
    provider.getTracer(SCOPE, VERSION),
    new EarlySampling(sampler, ids),
    String(name ?? serviceName),
    async () => {
      setLogTraceFields(undefined);
      undici.disable();
      // Spans still buffered whose export fails (a collector down) must not fail a command that did
      // its work, nor replace the error it is already leaving with: said, and left.
      try {
        await provider.shutdown();
      } catch (err) {
        logger.warn({ err: errorMessage(err) }, "tracing: the spans still buffered could not be exported");
      }
    },
  );
  logger.info(
    { service: tracing.serviceName, exporters: exporters.map((x) => x.constructor.name) },
    "OpenTelemetry tracing on",
  );
  return tracing;
}

function activeSpanFields(): object {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const sc = span.spanContext();
  return { trace_id: sc.traceId, span_id: sc.spanId };
}

function sendAttributes(f: SendFacts): Attributes {
  const a: Attributes = {
    [Attr.System]: NATS,
    [Attr.OperationType]: "send",
    [Attr.OperationName]: "publish",
    [Attr.Destination]: f.subject,
  };
  if (f.stream) a[Attr.Stream] = f.stream;
  if (f.msgId) a[Attr.MessageId] = f.msgId;
  if (f.orderNo) a[Attr.OrderNo] = f.orderNo;
  return a;
}

/**
 * The SDK's random ids, and room for one trace id decided on beforehand: a root's sampling is
 * decided (below) before the SDK builds anything, on a trace id its span must then carry, or the
 * ratio sampler would decide again, on another id. `startSpan` takes it synchronously.
 */
class DecidedIdGenerator implements IdGenerator {
  private readonly random = new RandomIdGenerator();
  private next: string | undefined;

  preset(traceId: string | undefined): void {
    this.next = traceId;
  }

  generateTraceId(): string {
    const t = this.next;
    if (t === undefined) return this.random.generateTraceId();
    this.next = undefined;
    return t;
  }

  generateSpanId(): string {
    return this.random.generateSpanId();
  }
}

/**
 * The context an unsampled message carries on: its trace, flags without "sampled", no span
 * recorded. Always a version-00 `traceparent`, so the ids are at fixed places in it. A class rather
 * than an object literal, as the PubAck window's entries are (pub-ack-window.ts): one per order,
 * held until the order is released, and never to be pretenured.
 */
class Unsampled {
  constructor(
    readonly traceparent: string,
    readonly tracestate: string | undefined,
  ) {}
}

const NO_ATTRIBUTES: Attributes = {};
const NO_LINKS: Link[] = [];
const SAMPLED_FLAG = 0x01;

function hex2(n: number): string {
  return n < 0x10 ? `0${n.toString(16)}` : n.toString(16);
}

/**
 * The sampling decision, taken before any SDK object, attribute or context is built, so that an
 * unsampled order costs a header copy rather than a span: at 1% sampling that is 99 orders in 100.
 * It is the decision the SDK's own sampler would take: the samplers OTEL_TRACES_SAMPLER names read
 * only the parent's sampled flag (parent-based, with a parent) or the trace id (ratio, on or off),
 * never the span's name, attributes or links. A sampled span is then built by the SDK as before.
 */
class EarlySampling {
  readonly parentBased: boolean;

  constructor(
    private readonly sampler: Sampler,
    private readonly ids: DecidedIdGenerator,
  ) {
    this.parentBased = sampler instanceof ParentBasedSampler;
  }

  /**
   * Undefined when the span is to be recorded (then, for a root, the SDK's span takes the trace id
   * decided on); else the context to pass on. An unsampled parent's `traceparent` and `tracestate`
   * go on unchanged (W3C Trace Context lets a participant that records nothing propagate them as
   * received; the SDK's non-recording span would only have swapped in a span id that no span has).
   */
  decide(
    parent: TraceContext | undefined,
    tracestate: string | undefined,
    kind: SpanKind,
  ): Unsampled | undefined {
    if (parent && this.parentBased) {
      if (parent.flags & SAMPLED_FLAG) return undefined;
      return unsampled(parent.traceId, parent.spanId, parent.flags, tracestate);
    }
    const traceId = parent?.traceId ?? this.ids.generateTraceId();
    // The parent is not passed: no sampler left here reads it (parent-based ones with a parent were decided above).
    const r = this.sampler.shouldSample(ROOT_CONTEXT, traceId, "", kind, NO_ATTRIBUTES, NO_LINKS);
    if (r.decision !== SamplingDecision.NOT_RECORD) {
      if (!parent) this.ids.preset(traceId);
      return undefined;
    }
    return parent
      ? unsampled(traceId, parent.spanId, parent.flags & ~SAMPLED_FLAG, tracestate)
      : unsampled(traceId, this.ids.generateSpanId(), 0, undefined);
  }

  /** A root decided as sampled whose span was not started after all: its trace id must not reach the next root. */
  clear(): void {
    this.ids.preset(undefined);
  }
}

function unsampled(
  traceId: string,
  spanId: string,
  flags: number,
  tracestate: string | undefined,
): Unsampled {
  return new Unsampled(`00-${traceId}-${spanId}-${hex2(flags)}`, tracestate);
}

class OtelTracing implements Tracing {
  constructor(
    private readonly tracer: Tracer,
    private readonly sampling: EarlySampling,
    readonly serviceName: string,
    private readonly stop: () => Promise<void>,
  ) {}

  send(h: MsgHdrs, facts: SendFacts): SendSpan {
    const active = context.active();
    // A new trace (pub, the publish form, the load generator): decided first. Under an active
    // span, the SDK decides from it as before.
    if (trace.getSpan(active) === undefined) {
      const u = this.sampling.decide(undefined, undefined, SpanKind.PRODUCER);
      if (u) return sendUnsampled(h, u);
    }
    try {
      return startSend(this.tracer, active, h, facts);
    } finally {
      this.sampling.clear();
    }
  }

  process(input: Msg, d: Delivery, src: DeliverySource): DeliverySpan {
    const traceparent = rawHeader(input, TRACEPARENT_HEADER);
    if (traceparent !== undefined && this.sampling.parentBased) {
      // The common case downstream of a traced stage, decided on the parent's flag alone: sampled
      // out, the input's context goes on as it came, with nothing parsed or built.
      const flags = plainTraceparentFlags(traceparent);
      if (flags >= 0 && (flags & SAMPLED_FLAG) === 0) {
        return new UnsampledDelivery(new Unsampled(traceparent, rawHeader(input, TRACESTATE_HEADER)));
      }
    }
    const parent = parseTraceparent(traceparent);
    const tracestate = parent ? rawHeader(input, TRACESTATE_HEADER) : undefined;
    const u = this.sampling.decide(parent, tracestate, SpanKind.CONSUMER);
    if (u) return new UnsampledDelivery(u);
    try {
      return this.processSampled(input, parent, tracestate, d, src);
    } finally {
      this.sampling.clear();
    }
  }

  private processSampled(
    input: Msg,
    parentContext: TraceContext | undefined,
    tracestate: string | undefined,
    d: Delivery,
    src: DeliverySource,
  ): DeliverySpan {
    // The span context the W3C propagator would extract from the same two headers.
    const parent = parentContext
      ? trace.setSpanContext(ROOT_CONTEXT, {
          traceId: parentContext.traceId,
          spanId: parentContext.spanId,
          traceFlags: parentContext.flags,
          isRemote: true,
          traceState: tracestate === undefined ? undefined : createTraceState(tracestate),
        })
      : ROOT_CONTEXT;
    const attributes: Attributes = {
      [Attr.System]: NATS,
      [Attr.OperationType]: "process",
      [Attr.OperationName]: "process",
      [Attr.Destination]: d.subject,
      [Attr.ConsumerGroup]: src.consumer,
      [Attr.Stream]: src.stream,
      [Attr.StreamSeq]: d.seq,
      [Attr.DeliveryCount]: d.deliveryCount,
    };
    const inputId = rawHeader(input, "nats-msg-id");
    if (inputId) attributes[Attr.MessageId] = inputId;
    const span = this.tracer.startSpan(
      `process ${d.subject}`,
      { kind: SpanKind.CONSUMER, attributes },
      parent,
    );
    return new OtelDeliverySpan(this.tracer, span, trace.setSpan(parent, span));
  }

  shutdown(): Promise<void> {
    return this.stop();
  }
}

const NO_SEND: SendSpan = { end: () => undefined };

function sendUnsampled(h: MsgHdrs, u: Unsampled): SendSpan {
  setHeader(h, TRACEPARENT_HEADER, u.traceparent);
  if (u.tracestate !== undefined) setHeader(h, TRACESTATE_HEADER, u.tracestate);
  return NO_SEND;
}

function startSend(tracer: Tracer, parent: Context, h: MsgHdrs, facts: SendFacts): SendSpan {
  const links = facts.linkTo ? linkTo(facts.linkTo) : undefined;
  const span = tracer.startSpan(
    `publish ${facts.subject}`,
    { kind: SpanKind.PRODUCER, attributes: sendAttributes(facts), links },
    parent,
  );
  propagation.inject(trace.setSpan(parent, span), h, headerSetter);
  return new OtelSendSpan(span);
}

/** A link to the context stored in a message's headers (a dead letter's), if it carries one. */
function linkTo(headers: Readonly<Record<string, string>>): Link[] | undefined {
  const sc = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, headers, recordGetter));
  return sc ? [{ context: sc, attributes: { "orderflow.link": "dead-letter" } }] : undefined;
}

function failed(span: Span, error: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(error) });
}

class OtelSendSpan implements SendSpan {
  constructor(private readonly span: Span) {}

  end(error?: unknown): void {
    if (error !== undefined) failed(this.span, error);
    this.span.end();
  }
}

class OtelDeliverySpan implements DeliverySpan {
  readonly recording = true;

  constructor(
    private readonly tracer: Tracer,
    private readonly span: Span,
    private readonly ctx: Context,
  ) {}

  run<T>(fn: () => T): T {
    return context.with(this.ctx, fn);
  }

  setOrderNo(orderNo: string): void {
    this.span.setAttribute(Attr.OrderNo, orderNo);
  }

  event(name: string, attributes?: EventAttributes): void {
    this.span.addEvent(name, attributes);
  }

  failure(error: unknown): void {
    this.span.recordException(error instanceof Error ? error : errorMessage(error));
  }

  send(h: MsgHdrs, facts: SendFacts): SendSpan {
    return startSend(this.tracer, this.ctx, h, facts);
  }

  end(outcome: "done" | "dead-lettered" | "retried", reason?: string): void {
    this.span.setAttribute(Attr.Outcome, outcome);
    if (outcome !== "done") failed(this.span, reason ?? outcome);
    this.span.end();
  }

  logFields(): { trace_id: string; span_id: string } {
    const sc = this.span.spanContext();
    return { trace_id: sc.traceId, span_id: sc.spanId };
  }
}

/**
 * A delivery sampled out: no span, no attributes; its output carries the order's context on. A
 * handler still runs inside that context (a non-recording span, built only then), so its own
 * instrumented calls propagate the order's trace, unsampled, and its log lines carry the ids.
 */
class UnsampledDelivery implements DeliverySpan {
  readonly recording = false;
  private ctx: Context | undefined;

  constructor(private readonly u: Unsampled) {}

  run<T>(fn: () => T): T {
    if (this.ctx === undefined) {
      const { traceId, spanId } = idsOf(this.u.traceparent);
      const { tracestate } = this.u;
      const span = trace.wrapSpanContext({
        traceId,
        spanId,
        traceFlags: TraceFlags.NONE,
        traceState: tracestate === undefined ? undefined : createTraceState(tracestate),
      });
      this.ctx = trace.setSpan(ROOT_CONTEXT, span);
    }
    return context.with(this.ctx, fn);
  }

  setOrderNo(): void {
    // nothing recorded: the order is sampled out
  }

  event(): void {
    // nothing recorded: the order is sampled out
  }

  failure(): void {
    // nothing recorded: the order is sampled out
  }

  send(h: MsgHdrs): SendSpan {
    return sendUnsampled(h, this.u);
  }

  end(): void {
    // nothing recorded: the order is sampled out
  }

  logFields(): { trace_id: string; span_id: string } {
    const { traceId, spanId } = idsOf(this.u.traceparent);
    return { trace_id: traceId, span_id: spanId };
  }
}

/** The ids of a version-00 `traceparent`, at their fixed places. */
function idsOf(traceparent: string): { traceId: string; spanId: string } {
  return { traceId: traceparent.slice(3, 35), spanId: traceparent.slice(36, 52) };
}
