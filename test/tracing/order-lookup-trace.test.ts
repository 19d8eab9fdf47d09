import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { connectTo, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { OtlpReceiver } from "../helpers/otlp-receiver.js";
import { waitFor } from "../helpers/wait.js";
import { startWorker } from "../helpers/workers.js";

describe("from an order number to its trace, with tracing on end to end", () => {
  it("orderflow order shows, for every stage of a traced order, the trace id the exporter sent", async () => {
    const receiver = await OtlpReceiver.start();
    const server = await startServer();
    const jsm = await withTopology(await connectTo(server));
    const otel = receiver.env();
    const processor = await startWorker("processor", server.url, [], { env: otel });
    const dispatcher = await startWorker("dispatcher", server.url, [], { env: otel });

    const pub = await runCli(["pub", "ORDERS.received", "400001", "-s", server.url], { env: otel });
    expect(pub.code).toBe(0);
    await waitFor("the order completed", async () => (await subjectCounts(jsm))["ORDERS.completed"] === 1);
    for (const w of [processor, dispatcher]) {
      w.signal("SIGTERM");
      expect(await w.exited()).toBe(0);
    }
    const pubSpan = await waitFor("the pub span at the receiver", () =>
      receiver.spans.find(
        (s) => s.service === "orderflow-pub" && s.attributes["orderflow.order_no"] === "400001",
      ),
    );
    const traceId = pubSpan.traceId;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    // Every stage's process span is in that trace: the ids the lookup shows are the exporter's.
    const services = new Set(receiver.spans.filter((s) => s.traceId === traceId).map((s) => s.service));
    expect(services).toEqual(new Set(["orderflow-pub", "orderflow-processor", "orderflow-dispatcher"]));

    const template = "http://localhost:16686/trace/{traceId}";
    const json = JSON.parse(
      (await runCli(["order", "400001", "-s", server.url, "--json", "--trace-url", template])).stdout,
    );
    expect(json.entries.map((e: Record<string, unknown>) => [e.stage, e.traceId, e.traceUrl])).toEqual([
      ["received", traceId, `http://localhost:16686/trace/${traceId}`],
      ["processed", traceId, `http://localhost:16686/trace/${traceId}`],
      ["completed", traceId, `http://localhost:16686/trace/${traceId}`],
    ]);
    const text = await runCli(["order", "400001", "-s", server.url, "--trace-url", template]);
    expect(text.code).toBe(0);
    const lines = text.stdout.trim().split("\n");
    expect(lines.filter((l) => l.endsWith(`trace ${traceId}`))).toHaveLength(3);
    expect(lines).toContain(`trace ${traceId}: http://localhost:16686/trace/${traceId}`);
  });
});
