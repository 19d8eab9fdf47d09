import { describe, expect, it } from "vitest";
import { VERSION } from "../../src/common/version.js";
import { startCli } from "../helpers/background-cli.js";
import { connectTo, publishOrders, tempIndexDir, withTopology } from "../helpers/fixtures.js";
import { metricValue, scrape, waitForMetricsUrl, waitForReadyz } from "../helpers/metrics.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

describe("orderflow indexer --metrics-port", () => {
  it("serves /metrics, /healthz and /readyz: ready once caught up, 503 while NATS is gone", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    const n = 200;
    await publishOrders(nc, n);
    const indexer = startCli(
      ["indexer", "-s", server.url, "--index-dir", tempIndexDir(), "--log-format", "json"],
      { ORDERFLOW_LOG_LEVEL: "info", ORDERFLOW_METRICS_PORT: "0" },
    );
    const url = await waitForMetricsUrl(() => indexer.stderr());

    const health = await fetch(`${url}healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok" });
    const ready = await waitForReadyz(url, 200, "ready once the index caught up");
    expect(ready.body).toEqual({
      ready: true,
      checks: { connected: true, caughtUp: true, reading: true },
      reasons: [],
    });
    const text = await waitFor("the index gauges", async () => {
      const t = await scrape(url);
      return metricValue(t, "orderflow_index_orders") === n ? t : undefined;
    });
    expect(metricValue(text, "orderflow_index_indexed_through")).toBe(n);
    expect(
      metricValue(
        text,
        `orderflow_build_info{version="${VERSION}",stage="indexer",handler="built-in",nats_server_version="${nc.info?.version}"}`,
      ),
    ).toBe(1);
    expect(metricValue(text, 'orderflow_nats_connected{connection="orderflow-indexer"}')).toBe(1);
    expect(text).not.toMatch(/^orderflow_stage_processed_total/m);

    await server.stop();
    const down = await waitForReadyz(url, 503, "not ready while NATS is gone");
    expect(down.body.checks.connected).toBe(false);
    await server.start();
    await waitForReadyz(url, 200, "ready again after the restart", 30_000);
    expect(await indexer.interrupt()).toBe(0);
  });
});
