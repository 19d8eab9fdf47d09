import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { parseTraceparent } from "../../src/common/trace-context.js";
import { runCli } from "../helpers/cli.js";
import { connectTo, readStored, subjectCounts, waitSettled, withTopology } from "../helpers/fixtures.js";
import { tempModule } from "../helpers/handler-worker.js";
import { startServer } from "../helpers/nats-server.js";
import { OtlpReceiver, type ReceivedSpan, SpanKindNo, StatusNo } from "../helpers/otlp-receiver.js";
import { SeedProgram, skipWithoutSeedGo, startSeedWorker } from "../helpers/seed-go.js";
import { seedTopology } from "../helpers/seed-topology.js";
import { waitFor } from "../helpers/wait.js";
import { startWorker, type WorkerProcess } from "../helpers/workers.js";
import { startUp } from "../up/up-process.js";

const TRACKER = fileURLToPath(new URL("../helpers/import-tracker.mjs", import.meta.url));
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** No OpenTelemetry variable of the developer's machine reaches a process meant to run untraced. */
const NO_OTEL: NodeJS.ProcessEnv = {
  OTEL_EXPORTER_OTLP_ENDPOINT: "",
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "",
  OTEL_TRACES_EXPORTER: "",
  OTEL_SERVICE_NAME: "",
};

/** A stand-in for the pricing service a team's handler calls. */
async function startPricingService(): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? "");
    res.writeHead(200, { "content-type": "application/json" }).end('{"price":42}');
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
  };
}

/** A processor handler that asks the pricing service (with Node's fetch) and logs inside its order. */
function pricingHandler(): string {
  return tempModule(
    "pricing.mjs",
    `export default async function (order, ctx) {
  const res = await fetch(process.env.PRICING_URL + "/price/" + encodeURIComponent(order.orderNo));
  const { price } = await res.json();
  ctx.logger.info({ price }, "priced");
  return order.orderNo + ",processed";
}
`,
  );
}

/** Stops a worker as an orchestrator would (SIGTERM) and waits for its exit: its spans are flushed by then. */
async function stopWorker(w: WorkerProcess): Promise<void> {
  w.signal("SIGTERM");
  expect(await w.exited()).toBe(0);
}

function only(spans: ReceivedSpan[], what: string, pick: (s: ReceivedSpan) => boolean): ReceivedSpan {
  const found = spans.filter(pick);
  if (found.length !== 1) {
    throw new Error(`expected one ${what}, found ${found.length}: ${JSON.stringify(spans, null, 1)}`);
  }
  return found[0] as ReceivedSpan;
}

describe("one order, one trace: pub → processor (handler calls HTTP) → dispatcher, separate processes", () => {
  it("links every hop of an order in one trace, dead letters carry theirs, a replay links to it", async () => {
    const receiver = await OtlpReceiver.start();
    const pricing = await startPricingService();
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const importLog = join(mkdtempSync(join(tmpdir(), "orderflow-otel-")), "imports.log");
    const otel = receiver.env();
    const processor = await startWorker("processor", server.url, ["--handler", pricingHandler()], {
      env: { ...otel, PRICING_URL: pricing.url, ORDERFLOW_TEST_IMPORT_LOG: importLog },
      nodeArgs: ["--import", TRACKER],
    });
    const dispatcher = await startWorker("dispatcher", server.url, [], { env: otel });

    const orders = ["100001", "100002", "100003"];
    for (const o of orders) {
      const pub = await runCli(["pub", "ORDERS.received", o, "-s", server.url], { env: otel });
      expect(pub.stderr).toBe("");
      expect(pub.code).toBe(0);
    }
    // A malformed order (a comma is not allowed): dead-lettered by the processor before its handler.
    const bad = await runCli(["pub", "ORDERS.received", "7,7", "-s", server.url], { env: otel });
    expect(bad.code).toBe(0);
    await waitFor("three orders completed and one dead letter", async () => {
      const c = await subjectCounts(jsm);
      return c["ORDERS.completed"] === 3 && c["ORDERS.failed"] === 1;
    });
    const replay = await runCli(["dead-letters", "replay", "--all", "-s", server.url], { env: otel });
    expect(replay.stderr).toBe("");
    expect(replay.code).toBe(0);
    // The replayed input is malformed still: a second dead letter, in a trace of its own.
    await waitFor("the replayed order dead-lettered again", async () => {
      return (await subjectCounts(jsm))["ORDERS.failed"] === 2;
    });
    await waitSettled(jsm, "NEW");
    await waitSettled(jsm, "DISPATCH");
    await stopWorker(processor);
    await stopWorker(dispatcher);
    expect(receiver.rejected).toEqual([]);
    const spans = receiver.spans;

    const completed = await readStored(nc, "ORDERS.completed");
    const processed = await readStored(nc, "ORDERS.processed");
    const traceIds = new Set<string>();
    for (const orderNo of orders) {
      const send = only(
        spans,
        `pub span of ${orderNo}`,
        (s) => s.service === "orderflow-pub" && s.attributes["orderflow.order_no"] === orderNo,
      );
      expect(send).toMatchObject({
        name: "publish ORDERS.received",
        kind: SpanKindNo.Producer,
        parentSpanId: "",
      });
      expect(send.attributes).toMatchObject({
        "messaging.system": "nats",
        "messaging.operation.type": "send",
        "messaging.destination.name": "ORDERS.received",
      });
      const trace = spans.filter((s) => s.traceId === send.traceId);
      traceIds.add(send.traceId);

      const pProcess = only(
        trace,
        "processor process span",
        (s) => s.service === "orderflow-processor" && s.kind === SpanKindNo.Consumer,
      );
      expect(pProcess.name).toBe("process ORDERS.received");
      expect(pProcess.parentSpanId).toBe(send.spanId);
      expect(pProcess.status.code).toBe(StatusNo.Unset);
      expect(pProcess.attributes).toMatchObject({
        "messaging.system": "nats",
        "messaging.operation.type": "process",
        "messaging.destination.name": "ORDERS.received",
        "messaging.consumer.group.name": "NEW",
        "messaging.nats.stream": "ORDERS",
        "messaging.nats.delivery_count": 1,
        "orderflow.order_no": orderNo,
        "orderflow.outcome": "done",
      });
      expect(pProcess.attributes["messaging.nats.stream_sequence"]).toBeGreaterThan(0);

      // The handler's fetch, under the undici instrumentation: a client span inside the process span.
      const http = only(trace, "HTTP client span", (s) => s.kind === SpanKindNo.Client);
      expect(http.service).toBe("orderflow-processor");
      expect(http.parentSpanId).toBe(pProcess.spanId);
      expect(String(http.attributes["url.full"])).toBe(`${pricing.url}/price/${orderNo}`);

      const pSend = only(
        trace,
        "processor send span",
        (s) => s.service === "orderflow-processor" && s.kind === SpanKindNo.Producer,
      );
      expect(pSend).toMatchObject({ name: "publish ORDERS.processed", parentSpanId: pProcess.spanId });
      expect(pSend.attributes["messaging.message.id"]).toBe(`${orderNo}:processed`);

      const dProcess = only(
        trace,
        "dispatcher process span",
        (s) => s.service === "orderflow-dispatcher" && s.kind === SpanKindNo.Consumer,
      );
      expect(dProcess).toMatchObject({ name: "process ORDERS.processed", parentSpanId: pSend.spanId });
      expect(dProcess.attributes).toMatchObject({
        "messaging.consumer.group.name": "DISPATCH",
        "messaging.message.id": `${orderNo}:processed`,
        "orderflow.order_no": orderNo,
      });
      const dSend = only(
        trace,
        "dispatcher send span",
        (s) => s.service === "orderflow-dispatcher" && s.kind === SpanKindNo.Producer,
      );
      expect(dSend).toMatchObject({ name: "publish ORDERS.completed", parentSpanId: dProcess.spanId });
      expect(trace).toHaveLength(6);

      // The stored messages carry the context of the span that published them.
      const out = completed.find((m) => text(m.data) === `${orderNo},completed`);
      expect(parseTraceparent(out?.headers.get("traceparent"))).toMatchObject({
        traceId: send.traceId,
        spanId: dSend.spanId,
      });
      const mid = processed.find((m) => text(m.data) === `${orderNo},processed`);
      expect(parseTraceparent(mid?.headers.get("traceparent"))).toMatchObject({
        traceId: send.traceId,
        spanId: pSend.spanId,
      });

      // The handler's log line joins the trace.
      const priced = processor.logLines().find((l) => l.msg === "priced" && l.orderNo === orderNo);
      expect(priced).toMatchObject({ trace_id: send.traceId, span_id: pProcess.spanId });
    }
    expect(traceIds.size).toBe(orders.length);
    expect(pricing.requests).toHaveLength(orders.length);

    // The dead-lettered order: its process span failed, with the event; the dead letter carries the context.
    const [firstDead, secondDead] = await readStored(nc, "ORDERS.failed");
    const deadCtx = parseTraceparent(firstDead?.headers.get("traceparent"));
    expect(deadCtx).toBeDefined();
    const badTrace = spans.filter((s) => s.traceId === deadCtx?.traceId);
    const badProcess = only(badTrace, "dead-lettered process span", (s) => s.kind === SpanKindNo.Consumer);
    expect(badProcess.status).toMatchObject({ code: StatusNo.Error });
    expect(badProcess.attributes["orderflow.outcome"]).toBe("dead-lettered");
    expect(badProcess.events.map((e) => e.name)).toContain("dead_letter");
    const deadSend = only(badTrace, "dead letter send span", (s) => s.name === "publish ORDERS.failed");
    expect(deadSend.parentSpanId).toBe(badProcess.spanId);
    expect(deadCtx?.spanId).toBe(deadSend.spanId);
    expect(only(badTrace, "bad order's pub span", (s) => s.service === "orderflow-pub").spanId).toBe(
      badProcess.parentSpanId,
    );

    // The replay: a new trace whose send span links to the dead letter's context.
    const replaySend = only(spans, "replay span", (s) => s.service === "orderflow-replay");
    expect(replaySend.name).toBe("publish ORDERS.received");
    expect(replaySend.traceId).not.toBe(deadCtx?.traceId);
    expect(replaySend.links).toEqual([
      expect.objectContaining({ traceId: deadCtx?.traceId, spanId: deadCtx?.spanId }),
    ]);
    const secondCtx = parseTraceparent(secondDead?.headers.get("traceparent"));
    expect(secondCtx?.traceId).toBe(replaySend.traceId);

    // The tracker sees the SDK loaded in a traced process (so its silence below means something).
    expect(readFileSync(importLog, "utf8")).toContain("@opentelemetry/sdk-trace");
  }, 120_000);

  it("with tracing off, no span is sent, no header is added and no OpenTelemetry module is loaded", async () => {
    const receiver = await OtlpReceiver.start();
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const importLog = join(mkdtempSync(join(tmpdir(), "orderflow-otel-")), "imports.log");
    const off = { ...NO_OTEL, ORDERFLOW_TEST_IMPORT_LOG: importLog };
    // The receiver's address is configured, but OTEL_SDK_DISABLED turns tracing off for the processor.
    const processor = await startWorker("processor", server.url, [], {
      env: { ...off, ...receiver.env(), OTEL_SDK_DISABLED: "true" },
      nodeArgs: ["--import", TRACKER],
    });
    const dispatcher = await startWorker("dispatcher", server.url, [], {
      env: off,
      nodeArgs: ["--import", TRACKER],
    });
    const pub = await runCli(["pub", "ORDERS.received", "--count", "3", "20000{{Count}}", "-s", server.url], {
      env: NO_OTEL,
    });
    expect(pub.code).toBe(0);
    await waitFor("three orders completed", async () => (await subjectCounts(jsm))["ORDERS.completed"] === 3);
    await waitSettled(jsm, "DISPATCH");
    await stopWorker(processor);
    await stopWorker(dispatcher);

    expect(receiver.spans).toEqual([]);
    for (const subject of ["ORDERS.received", "ORDERS.processed", "ORDERS.completed"]) {
      for (const m of await readStored(nc, subject)) {
        expect([...m.headers.keys()].map((k) => k.toLowerCase())).not.toContain("traceparent");
      }
    }
    // Not one @opentelemetry module was even resolved by either worker.
    expect(existsSync(importLog) ? readFileSync(importLog, "utf8") : "").toBe("");
  }, 60_000);
});

describe("orderflow up with tracing on", () => {
  it("its workers report as orderflow-up and continue the producer's trace", async () => {
    const receiver = await OtlpReceiver.start();
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const up = startUp(
      ["-s", server.url, "--port", "0", "--workers", "processor,dispatcher"],
      receiver.env(),
    );
    await up.dashboard();
    const pub = await runCli(["pub", "ORDERS.received", "400001", "-s", server.url], { env: receiver.env() });
    expect(pub.code).toBe(0);
    await waitFor("the order completed", async () => (await subjectCounts(jsm))["ORDERS.completed"] === 1);
    await waitSettled(jsm, "DISPATCH");
    expect(await up.interrupt()).toBe(0);

    const send = only(receiver.spans, "pub span", (s) => s.service === "orderflow-pub");
    const trace = receiver.spans.filter((s) => s.traceId === send.traceId);
    expect(trace.map((s) => `${s.service} ${s.name}`).sort()).toEqual([
      "orderflow-pub publish ORDERS.received",
      "orderflow-up process ORDERS.processed",
      "orderflow-up process ORDERS.received",
      "orderflow-up publish ORDERS.completed",
      "orderflow-up publish ORDERS.processed",
    ]);
  }, 60_000);
});

const noSeedGo = await skipWithoutSeedGo("trace-pipeline");

describe("the seed's Go order-processed in the middle of a traced pipeline", () => {
  it.skipIf(noSeedGo)(
    "drops the context (headers), so our dispatcher starts a new trace; payloads are the seed's",
    async () => {
      const receiver = await OtlpReceiver.start();
      const server = await startServer();
      // The topology exactly as the seed's nats commands make it.
      await seedTopology(server.url);
      const nc = await connectTo(server);
      const jsm = await jetstreamManager(nc);
      await startSeedWorker(SeedProgram.Processed, server.url, { jsm, consumer: "NEW" });
      const dispatcher = await startWorker("dispatcher", server.url, [], { env: receiver.env() });
      const pub = await runCli(["pub", "ORDERS.received", "300001", "-s", server.url], {
        env: receiver.env(),
      });
      expect(pub.code).toBe(0);
      await waitFor("the order completed", async () => (await subjectCounts(jsm))["ORDERS.completed"] === 1);
      await waitSettled(jsm, "DISPATCH");
      await stopWorker(dispatcher);

      const [mid] = await readStored(nc, "ORDERS.processed");
      expect(text(mid?.data ?? new Uint8Array())).toBe("300001,processed");
      expect(mid?.headers.has("traceparent")).toBe(false);
      const [out] = await readStored(nc, "ORDERS.completed");
      expect(text(out?.data ?? new Uint8Array())).toBe("300001,completed");

      const pubSpan = only(receiver.spans, "pub span", (s) => s.service === "orderflow-pub");
      const dProcess = only(
        receiver.spans,
        "dispatcher process span",
        (s) => s.service === "orderflow-dispatcher" && s.kind === SpanKindNo.Consumer,
      );
      expect(dProcess.parentSpanId).toBe("");
      expect(dProcess.traceId).not.toBe(pubSpan.traceId);
      expect(dProcess.attributes["orderflow.order_no"]).toBe("300001");
      expect(parseTraceparent(out?.headers.get("traceparent"))?.traceId).toBe(dProcess.traceId);
    },
    120_000,
  );
});
