import { describe, expect, it } from "vitest";
import { VERSION } from "../../src/common/version.js";
import { get, startSystem } from "../dashboard/system-fixture.js";
import { connectTo, publishOrders, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { metricValue, readyz, scrape } from "../helpers/metrics.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

describe("orderflow up --metrics-port", () => {
  it("serves the dashboard's /metrics and /readyz on a port of their own too, with a build series per part", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const system = await startSystem(server, { metricsPort: 0, dashboardToken: "secret-token" });
    expect(system.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const url = system.metricsUrl;
    await publishOrders(nc, 20);
    await waitFor("completed", async () => (await subjectCounts(jsm))["ORDERS.completed"] === 20);

    const text = await waitFor("20 in /metrics", async () => {
      const t = await scrape(url);
      return metricValue(t, 'orderflow_stage_processed_total{stage="dispatcher"}') === 20 ? t : undefined;
    });
    const v = nc.info?.version;
    for (const stage of ["processor", "dispatcher", "indexer"]) {
      expect(
        metricValue(
          text,
          `orderflow_build_info{version="${VERSION}",stage="${stage}",handler="built-in",nats_server_version="${v}"}`,
        ),
      ).toBe(1);
    }
    // The same registry as the dashboard's (which wants the token for /metrics; this port does not).
    expect(text).toMatch(/^orderflow_stream_messages\{stage="completed"\} /m);
    expect((await get(system, "/metrics")).status).toBe(401);
    // One readiness for both listeners.
    const ready = await waitFor("ready on both", async () => {
      const [a, b] = [await readyz(url), await get(system, "/readyz")];
      return a.status === 200 && b.status === 200 ? { a, b } : undefined;
    });
    expect(ready.a.body).toEqual(ready.b.body);
    expect(ready.a.body.checks).toEqual({ connected: true, topology: true, workers: true });
  });
});
