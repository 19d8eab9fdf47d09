import { jetstream } from "@nats-io/jetstream";
import { headers } from "@nats-io/nats-core";
import { context, propagation, ROOT_CONTEXT, SpanKind, trace } from "@opentelemetry/api";
import { type Sampler, SamplingDecision, TraceIdRatioBasedSampler } from "@opentelemetry/sdk-trace";
import { describe, expect, it, onTestFinished, vi } from "vitest";
import { silentLogger } from "../../src/common/logger.js";
import { parseTraceparent } from "../../src/common/trace-context.js";
import { createStageWorker } from "../../src/runtime/create-stage-worker.js";
import { LateRedeliveries } from "../../src/stages/output-ledger.js";
import { parseOrderNo } from "../../src/stages/payload.js";
import { defineStage } from "../../src/stages/stage.js";
import { startOtelTracing } from "../../src/telemetry/otel-tracing.js";
import { connectTo, readStored, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { OtlpReceiver, SpanKindNo } from "../helpers/otlp-receiver.js";
import { waitFor } from "../helpers/wait.js";

/**
 * A processor traced by the real SDK, in this process, exporting to a test receiver; its handler
 * notes the trace context it runs in. The API's globals are reset when the test ends.
 */
async function tracedProcessor(sampler: NodeJS.ProcessEnv, expected: number) {
  const receiver = await OtlpReceiver.start();
  const server = await startServer();
  const nc = await connectTo(server);
  const jsm = await withTopology(nc);
  // The exporter reads its endpoint from the process's environment itself.
  const env = { ...receiver.env(), ...sampler };
  for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
  const tracing = startOtelTracing("orderflow-processor", env, silentLogger);
  onTestFinished(() => {
    vi.unstubAllEnvs();
    trace.disable();
    context.disable();
    propagation.disable();
  });
  const activeInHandler = new Map<string, string | undefined>();
  const stage = defineStage({
    name: "processor",
    consumer: "NEW",
    outputSubject: "ORDERS.processed",
    outputStage: "processed",
    parse: parseOrderNo,
    handle: (order) => {
      const sc = trace.getActiveSpan()?.spanContext();
      activeInHandler.set(order.orderNo, sc && `${sc.traceId}-${sc.traceFlags}`);
      return `${order.orderNo},processed`;
    },
  });
  const worker = await createStageWorker(nc, stage, { lateRedeliveries: LateRedeliveries.Publish, tracing });
  await worker.start();
  const js = jetstream(nc);
  return {
    receiver,
    activeInHandler,
    publish: async (orderNo: string, traceparent?: string, tracestate?: string) => {
      const h = headers();
      if (traceparent) h.set("traceparent", traceparent);
      if (tracestate) h.set("tracestate", tracestate);
      await js.publish("ORDERS.received", orderNo, { headers: h });
    },
    /** Waits for every output, stops the worker and flushes the SDK; then the receiver holds every span. */
    outputs: async () => {
      await waitFor("all processed", async () => (await subjectCounts(jsm))["ORDERS.processed"] === expected);
      await worker.stop();
      await tracing.shutdown();
      const out = new Map<string, Map<string, string>>();
      for (const m of await readStored(nc, "ORDERS.processed")) {
        out.set(new TextDecoder().decode(m.data).split(",")[0] ?? "", m.headers);
      }
      return out;
    },
  };
}

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";

describe("a sampled-out order costs no span", () => {
  it("an unsampled parent's traceparent and tracestate go on unchanged, nothing exported; a sampled one gets its spans", async () => {
    const p = await tracedProcessor({ OTEL_TRACES_SAMPLER: "parentbased_always_on" }, 2);
    await p.publish("1", `00-${TRACE}-${SPAN}-00`, "congo=t61rcWkgMzE");
    await p.publish("2", `00-${TRACE.replace("4", "5")}-${SPAN}-01`);
    const out = await p.outputs();

    // Unsampled: the input's context, as it came (the SDK's non-recording span would have swapped
    // in a span id of its own), and no span for it anywhere.
    expect(out.get("1")?.get("traceparent")).toBe(`00-${TRACE}-${SPAN}-00`);
    expect(out.get("1")?.get("tracestate")).toBe("congo=t61rcWkgMzE");
    expect(p.receiver.spans.filter((s) => s.traceId === TRACE)).toEqual([]);
    // The handler still ran inside the order's (unsampled) trace: its own calls propagate it.
    expect(p.activeInHandler.get("1")).toBe(`${TRACE}-0`);

    // Sampled: process and publish spans, the output carrying the publish span's context.
    const sampled = parseTraceparent(out.get("2")?.get("traceparent"));
    const trace2 = TRACE.replace("4", "5");
    expect(sampled).toMatchObject({ traceId: trace2, flags: 1 });
    const spans = p.receiver.spans.filter((s) => s.traceId === trace2);
    expect(spans.map((s) => [s.name, s.kind]).sort()).toEqual([
      ["process ORDERS.received", SpanKindNo.Consumer],
      ["publish ORDERS.processed", SpanKindNo.Producer],
    ]);
    const process = spans.find((s) => s.kind === SpanKindNo.Consumer);
    const send = spans.find((s) => s.kind === SpanKindNo.Producer);
    expect(process?.parentSpanId).toBe(SPAN);
    expect(process?.attributes).toMatchObject({
      "messaging.system": "nats",
      "messaging.destination.name": "ORDERS.received",
      "orderflow.order_no": "2",
      "orderflow.outcome": "done",
    });
    expect(send?.parentSpanId).toBe(process?.spanId);
    expect(send?.spanId).toBe(sampled?.spanId);
    expect(p.activeInHandler.get("2")).toBe(`${trace2}-1`);
  });

  it("a new trace is sampled by its trace id, as the SDK's ratio sampler decides, once, and only sampled ones export spans", async () => {
    const n = 200;
    const p = await tracedProcessor(
      { OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.5" },
      n,
    );
    for (let i = 1; i <= n; i++) await p.publish(String(i));
    const out = await p.outputs();
    const ratio: Sampler = new TraceIdRatioBasedSampler(0.5);
    const decided = (traceId: string) =>
      ratio.shouldSample(ROOT_CONTEXT, traceId, "", SpanKind.CONSUMER, {}, []).decision ===
      SamplingDecision.RECORD_AND_SAMPLED;
    const sampledTraces = new Set<string>();
    for (const [orderNo, h] of out) {
      const tc = parseTraceparent(h.get("traceparent"));
      expect(tc, `order ${orderNo}`).toBeDefined();
      if (!tc) continue;
      // The flag is the ratio's decision on the very trace id the order carries on.
      expect(tc.flags, `order ${orderNo}`).toBe(decided(tc.traceId) ? 1 : 0);
      if (tc.flags === 1) {
        sampledTraces.add(tc.traceId);
        const send = p.receiver.spans.find((s) => s.kind === SpanKindNo.Producer && s.traceId === tc.traceId);
        expect(send?.spanId, `order ${orderNo}`).toBe(tc.spanId);
      }
      expect(p.activeInHandler.get(orderNo)).toBe(`${tc.traceId}-${tc.flags}`);
    }
    // Half the orders, decided once: a second decision on another trace id (the SDK's own, had it
    // not taken the one decided on) would sample a quarter. 200 tosses: 100 ± 7; outside 70..130
    // about once in 40,000 runs, while a quarter (50 ± 6) reaches 70 about once in 1,500.
    expect(sampledTraces.size).toBeGreaterThanOrEqual(70);
    expect(sampledTraces.size).toBeLessThanOrEqual(130);
    expect(new Set(p.receiver.spans.map((s) => s.traceId))).toEqual(sampledTraces);
    expect(p.receiver.spans).toHaveLength(2 * sampledTraces.size);
  });
});
