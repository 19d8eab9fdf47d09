import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { VERSION } from "../../src/common/version.js";
import { runCli } from "../helpers/cli.js";
import { connectTo, publishOrders, subjectCounts, waitSettled, withTopology } from "../helpers/fixtures.js";
import { tempModule } from "../helpers/handler-worker.js";
import { metricValue, readyz, scrape, waitForReadyz } from "../helpers/metrics.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";
import { startWorker } from "../helpers/workers.js";

describe("orderflow worker --metrics-port", () => {
  it("reports exactly the orders it processed, its build, its connection and its consumer", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const worker = await startWorker("processor", server.url, ["--metrics-port", "0"]);
    const url = await worker.metricsUrl();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);

    const n = 1_000;
    await publishOrders(nc, n);
    await waitFor("1,000 processed", async () => (await subjectCounts(jsm))["ORDERS.processed"] === n);
    await waitSettled(jsm, "NEW");
    // The last ack is sent after the last PubAck: the counter reaches 1,000 and stays there.
    const text = await waitFor("1,000 in /metrics", async () => {
      const t = await scrape(url);
      return metricValue(t, 'orderflow_stage_processed_total{stage="processor"}') === n ? t : undefined;
    });
    expect(metricValue(text, 'orderflow_stage_dead_lettered_total{stage="processor"}')).toBe(0);
    expect(metricValue(text, 'orderflow_stage_retried_total{stage="processor"}')).toBe(0);
    expect(metricValue(text, 'orderflow_stage_latency_seconds_count{stage="processor",outcome="done"}')).toBe(
      n,
    );
    const serverVersion = nc.info?.version as string;
    expect(
      metricValue(
        text,
        `orderflow_build_info{version="${VERSION}",stage="processor",handler="built-in",nats_server_version="${serverVersion}"}`,
      ),
    ).toBe(1);
    expect(text.match(/^orderflow_build_info\{/gm)).toHaveLength(1);
    expect(metricValue(text, 'orderflow_nats_connected{connection="orderflow-worker-processor"}')).toBe(1);
    // Its own consumer, read at the scrape (the processor user may read NEW's info).
    expect(metricValue(text, 'orderflow_consumer_pending{consumer="NEW"}')).toBe(0);
    expect(metricValue(text, 'orderflow_consumer_ack_pending{consumer="NEW"}')).toBe(0);
    expect(text).not.toMatch(/consumer="DISPATCH"/);
    // What only `up` knows (stream counts, the MONITOR feed) is not exported as a false 0.
    expect(text).not.toMatch(/^orderflow_stream_messages/m);
    expect(text).not.toMatch(/^orderflow_order_e2e_latency_seconds/m);
    expect((await readyz(url)).status).toBe(200);

    worker.signal("SIGTERM");
    expect(await worker.exited()).toBe(0);
  });

  it("answers until the drain is over: not ready while a handler finishes, /metrics still served", async () => {
    // The drain is held open by a handler that runs until the test releases it, so the listener's
    // answers during the drain are seen for sure, however quickly the open pulls expire.
    const dir = mkdtempSync(join(tmpdir(), "orderflow-drain-"));
    const release = join(dir, "release");
    const handler = tempModule(
      "hold.mjs",
      `import { existsSync } from "node:fs";
export default async function (order) {
  while (!existsSync(${JSON.stringify(release)})) await new Promise((r) => setTimeout(r, 20));
  return order.orderNo + ",processed";
}
`,
    );
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const worker = await startWorker("processor", server.url, [
      "--metrics-port",
      "0",
      "--handler",
      handler,
      "--drain-timeout",
      "60s",
    ]);
    const url = await worker.metricsUrl();
    await nc.request("ORDERS.received", "held");
    await waitFor("the handler running", async () => {
      const t = await scrape(url);
      return metricValue(t, 'orderflow_handlers_in_progress{stage="processor"}') === 1;
    });

    worker.signal("SIGTERM");
    const draining = await waitForReadyz(url, 503, "not ready while draining");
    expect(draining.body.checks.pulling).toBe(false);
    expect(draining.body.reasons.join("\n")).toMatch(/processor worker is not running/);
    const during = await scrape(url);
    expect(metricValue(during, 'orderflow_handlers_in_progress{stage="processor"}')).toBe(1);
    expect(metricValue(during, 'orderflow_stage_processed_total{stage="processor"}')).toBe(0);

    writeFileSync(release, "");
    expect(await worker.exited()).toBe(0);
    expect((await subjectCounts(jsm))["ORDERS.processed"]).toBe(1);
    await expect(fetch(`${url}healthz`)).rejects.toThrow();
  });

  it("/readyz: 503 when its consumer is deleted and when NATS is gone, 200 again when they are back", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const worker = await startWorker("processor", server.url, ["--metrics-port", "0"]);
    const url = await worker.metricsUrl();
    const ready = await waitForReadyz(url, 200, "ready once its pulls are answered");
    expect(ready.body).toEqual({
      ready: true,
      checks: { connected: true, consumer: true, pulling: true },
      reasons: [],
    });

    await jsm.consumers.delete("ORDERS", "NEW");
    const gone = await waitForReadyz(url, 503, "not ready: the consumer is gone");
    expect(gone.body.checks).toEqual({ connected: true, consumer: false, pulling: false });
    // 409 Consumer Deleted at once; 2.10+ then answer each new pull with 503, 2.9 with silence.
    expect(gone.body.reasons.join("\n")).toMatch(/consumer NEW is missing|NEW went unanswered/);

    const setup = await runCli(["setup", "-s", server.url]);
    expect(setup.code).toBe(0);
    await waitForReadyz(url, 200, "ready again once setup created the consumer");
    await publishOrders(nc, 5);
    await waitFor("orders after the consumer came back processed", async () => {
      return (await subjectCounts(jsm))["ORDERS.processed"] === 5;
    });

    await server.stop();
    const down = await waitForReadyz(url, 503, "not ready while NATS is gone");
    expect(down.body.checks.connected).toBe(false);
    expect(down.body.reasons.join("\n")).toMatch(
      /connection orderflow-worker-processor is not connected to NATS/,
    );
    expect((await fetch(`${url}healthz`)).status).toBe(200);
    expect(
      metricValue(await scrape(url), 'orderflow_nats_connected{connection="orderflow-worker-processor"}'),
    ).toBe(0);

    await server.start();
    await waitForReadyz(url, 200, "ready again after the server restarted", 30_000);
    await publishOrders(await connectTo(server), 5, { first: 100 });
    await waitFor("orders after the restart processed", async () => {
      return (await subjectCounts(jsm))["ORDERS.processed"] === 10;
    });
  });
});
