import { describe, expect, it } from "vitest";
import { silentLogger } from "../../src/common/logger.js";
import { formatTraceparent, parseTraceparent, traceIdOf } from "../../src/common/trace-context.js";
import { startTracing, tracingWanted } from "../../src/telemetry/tracing.js";
import { runCli } from "../helpers/cli.js";
import { connectTo, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";

describe("when tracing is on", () => {
  it("is off without the flag or an OTEL_* variable asking for traces", () => {
    expect(tracingWanted(undefined, {})).toBe(false);
    expect(tracingWanted(false, { OTEL_SERVICE_NAME: "x", OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" })).toBe(
      false,
    );
    expect(tracingWanted(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: "  " })).toBe(false);
  });

  it("is on with --otel, an OTLP endpoint, or a traces exporter other than none", () => {
    expect(tracingWanted(true, {})).toBe(true);
    expect(tracingWanted(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" })).toBe(true);
    expect(tracingWanted(undefined, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/v1/traces" })).toBe(
      true,
    );
    expect(tracingWanted(undefined, { OTEL_TRACES_EXPORTER: "otlp" })).toBe(true);
    expect(tracingWanted(undefined, { OTEL_TRACES_EXPORTER: "none,console" })).toBe(true);
  });

  it("OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turns it off whatever else says", () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" };
    expect(tracingWanted(true, { ...endpoint, OTEL_SDK_DISABLED: "TRUE" })).toBe(false);
    expect(tracingWanted(true, { ...endpoint, OTEL_TRACES_EXPORTER: "none" })).toBe(false);
    expect(tracingWanted(true, { OTEL_SDK_DISABLED: "false" })).toBe(true);
  });

  it("off, startTracing gives nothing", async () => {
    expect(
      await startTracing({ serviceName: "orderflow-test", logger: silentLogger, env: {} }),
    ).toBeUndefined();
  });
});

describe("traceparent in headers", () => {
  const id = "4bf92f3577b34da6a3ce929d0e0e4736";
  it("parses the W3C form and reads it whatever the header's case", () => {
    const value = `00-${id}-00f067aa0ba902b7-01`;
    expect(parseTraceparent(value)).toEqual({ traceId: id, spanId: "00f067aa0ba902b7", flags: 1 });
    expect(formatTraceparent({ traceId: id, spanId: "00f067aa0ba902b7", flags: 1 })).toBe(value);
    expect(traceIdOf({ Traceparent: value })).toBe(id);
    expect(traceIdOf({ "Nats-Msg-Id": "1:processed" })).toBeUndefined();
  });

  it("refuses what is not one: all-zero ids, version ff, bad hex, extra fields on version 00", () => {
    for (const bad of [
      `00-${"0".repeat(32)}-00f067aa0ba902b7-01`,
      `00-${id}-${"0".repeat(16)}-01`,
      `ff-${id}-00f067aa0ba902b7-01`,
      `00-${id.toUpperCase()}-00f067aa0ba902b7-01`,
      `00-${id}-00f067aa0ba902b7-01-extra`,
      "",
    ]) {
      expect(parseTraceparent(bad), bad).toBeUndefined();
    }
    expect(parseTraceparent(`01-${id}-00f067aa0ba902b7-01-future`)?.traceId).toBe(id);
  });
});

describe("the OTEL_* settings orderflow cannot honour stop the command in one line", () => {
  it("refuses gRPC, unknown exporters and samplers, and a ratio out of range", async () => {
    const { exportersFromEnv, samplerFromEnv } = await import("../../src/telemetry/otel-tracing.js");
    const { TracingConfigError } = await import("../../src/common/errors.js");
    expect(() => exportersFromEnv({ OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" })).toThrow(TracingConfigError);
    expect(() => exportersFromEnv({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "grpc" })).toThrow(
      /OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc is not supported/,
    );
    expect(() => exportersFromEnv({ OTEL_TRACES_EXPORTER: "zipkin" })).toThrow(/OTEL_TRACES_EXPORTER=zipkin/);
    expect(() => samplerFromEnv({ OTEL_TRACES_SAMPLER: "sometimes" })).toThrow(TracingConfigError);
    expect(() =>
      samplerFromEnv({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "2" }),
    ).toThrow(/OTEL_TRACES_SAMPLER_ARG=2/);
  });

  it("as one line and a non-zero exit, before connecting", async () => {
    const res = await runCli(["pub", "ORDERS.received", "1", "--otel", "-s", "nats://127.0.0.1:1"], {
      env: { OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" },
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(
      "orderflow: OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported; use http/protobuf or http/json (OTLP over HTTP, port 4318) (see docs/tracing.md)\n",
    );
  });

  it("a collector that does not answer leaves a command that did its work at exit 0, with one warning", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    // Port 1 refuses at once; the export is tried for OTEL_EXPORTER_OTLP_TIMEOUT, then given up on.
    const res = await runCli(
      ["pub", "ORDERS.received", "1", "--otel", "-s", server.url, "--log-format", "json"],
      {
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:1", OTEL_EXPORTER_OTLP_TIMEOUT: "500" },
      },
    );
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/the spans still buffered could not be exported/);
    expect((await subjectCounts(jsm))["ORDERS.received"]).toBe(1);
  });

  it("takes what the specification names", async () => {
    const { exportersFromEnv, samplerFromEnv } = await import("../../src/telemetry/otel-tracing.js");
    const names = (env: NodeJS.ProcessEnv) => exportersFromEnv(env).map((x) => x.constructor.name);
    expect(names({})).toEqual(["OTLPTraceExporter"]);
    expect(names({ OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_TRACES_EXPORTER: "otlp,console" })).toEqual(
      ["OTLPTraceExporter", "ConsoleSpanExporter"],
    );
    expect(samplerFromEnv({}).toString()).toMatch(/ParentBased\{root=AlwaysOnSampler/);
    expect(
      samplerFromEnv({
        OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG: "0.01",
      }).toString(),
    ).toMatch(/TraceIdRatioBased\{0\.01\}/);
  });
});
