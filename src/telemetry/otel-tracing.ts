/**
 * The OpenTelemetry side of tracing: the official SDK, the OTLP exporter and the undici
 * instrumentation, set up from the standard OTEL_* environment. Imported only by tracing.ts, and
 * only when tracing is on: a process without tracing loads none of this.
 */
import { Match, type MsgHdrs } from "@nats-io/nats-core";
import {
  type Attributes,
  type Context,
  context,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
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
  ParentBasedSampler,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
import { errorMessage, TracingConfigError } from "../common/errors.js";
import { type Logger, setLogTraceFields } from "../common/logger.js";
import { headerIgnoringCase } from "../common/trace-context.js";
import type {
  DeliveryFacts,
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

/** NATS headers as a carrier: the W3C propagator writes lowercase names; reading ignores case. */
const headerSetter: TextMapSetter<MsgHdrs> = {
  set: (h, key, value) => h.set(key, value),
};
const headerGetter: TextMapGetter<MsgHdrs> = {
  keys: (h) => h.keys(),
  get: (h, key) => h.get(key, Match.IgnoreCase) || undefined,
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
  const provider = new TracerProvider({ resource, sampler, spanProcessors: exporters.map(batchProcessor) });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  const undici = new UndiciInstrumentation();
  undici.setTracerProvider(provider);
  setLogTraceFields(activeSpanFields);
  const name = resource.attributes[ATTR_SERVICE_NAME];
  const tracing = new OtelTracing(
    provider.getTracer(SCOPE, VERSION),
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

class OtelTracing implements Tracing {
  constructor(
    private readonly tracer: Tracer,
    readonly serviceName: string,
    private readonly stop: () => Promise<void>,
  ) {}

  send(h: MsgHdrs, facts: SendFacts): SendSpan {
    return startSend(this.tracer, context.active(), h, facts);
  }

  process(input: MsgHdrs | undefined, f: DeliveryFacts): DeliverySpan {
    const parent = input ? propagation.extract(ROOT_CONTEXT, input, headerGetter) : ROOT_CONTEXT;
    const attributes: Attributes = {
      [Attr.System]: NATS,
      [Attr.OperationType]: "process",
      [Attr.OperationName]: "process",
      [Attr.Destination]: f.subject,
      [Attr.ConsumerGroup]: f.consumer,
      [Attr.Stream]: f.stream,
      [Attr.StreamSeq]: f.seq,
      [Attr.DeliveryCount]: f.deliveryCount,
    };
    const inputId = input?.get("Nats-Msg-Id", Match.IgnoreCase);
    if (inputId) attributes[Attr.MessageId] = inputId;
    const span = this.tracer.startSpan(
      `process ${f.subject}`,
      { kind: SpanKind.CONSUMER, attributes },
      parent,
    );
    return new OtelDeliverySpan(this.tracer, span, trace.setSpan(parent, span));
  }

  shutdown(): Promise<void> {
    return this.stop();
  }
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
