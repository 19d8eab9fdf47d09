import { describe, expect, it } from "vitest";
import { connectTo, publishOrders, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";
import { get, metricValue, startSystem } from "./system-fixture.js";

describe("dashboard /metrics, /healthz, /readyz", () => {
  it("/metrics counts every order per stage, with latencies, backlogs and the connection state", async () => {
    const server = await startServer();
    const system = await startSystem(server);
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const n = 300;
    await publishOrders(nc, n);
    await publishOrders(nc, 1, { first: 0 }); // "0" is a valid order number
    await nc.publish("ORDERS.received", "bad,order");
    await waitFor(
      "all orders completed",
      async () => (await subjectCounts(jsm))["ORDERS.completed"] === n + 1,
    );

    const metrics = await waitFor("metrics with every outcome and a fresh sample", async () => {
      const { text } = await get(system, "/metrics");
      const done = metricValue(text, 'orderflow_stage_processed_total{stage="dispatcher"}') === n + 1;
      // One stream sample that already holds both the last completion and the dead letter.
      const sampled =
        metricValue(text, 'orderflow_stream_messages{stage="completed"}') === n + 1 &&
        metricValue(text, 'orderflow_stream_messages{stage="failed"}') === 1;
      const failed = metricValue(text, 'orderflow_stage_dead_lettered_total{stage="processor"}') === 1;
      const e2e = metricValue(text, "orderflow_order_e2e_latency_seconds_count") === n + 1;
      // The consumers settled in the sample too: an ack leaves after its output's PubAck, so one
      // sample can see every completion stored while acks are still on their way (seen on 2.15).
      const settled = ["NEW", "DISPATCH"].every(
        (c) =>
          metricValue(text, `orderflow_consumer_pending{consumer="${c}"}`) === 0 &&
          metricValue(text, `orderflow_consumer_ack_pending{consumer="${c}"}`) === 0,
      );
      return done && sampled && failed && e2e && settled ? text : undefined;
    });
    expect(metricValue(metrics, 'orderflow_stage_processed_total{stage="processor"}')).toBe(n + 1);
    expect(metricValue(metrics, 'orderflow_stage_dead_lettered_total{stage="dispatcher"}')).toBe(0);
    expect(metricValue(metrics, 'orderflow_stage_retried_total{stage="processor"}')).toBe(0);
    expect(
      metricValue(metrics, 'orderflow_stage_latency_seconds_count{stage="processor",outcome="done"}'),
    ).toBe(n + 1);
    expect(metricValue(metrics, 'orderflow_stream_messages{stage="failed"}')).toBe(1);
    expect(metricValue(metrics, 'orderflow_stream_messages{stage="received"}')).toBe(n + 2);
    for (const c of ["NEW", "DISPATCH"]) {
      expect(metricValue(metrics, `orderflow_consumer_pending{consumer="${c}"}`)).toBe(0);
      expect(metricValue(metrics, `orderflow_consumer_ack_pending{consumer="${c}"}`)).toBe(0);
    }
    for (const conn of ["orderflow-up", "orderflow-processor", "orderflow-dispatcher"]) {
      expect(metricValue(metrics, `orderflow_nats_connected{connection="${conn}"}`)).toBe(1);
    }
    expect(metricValue(metrics, 'orderflow_monitor_events_total{stage="failed"}')).toBe(1);
    // One name prefix for everything we export.
    const names = metrics
      .split("\n")
      .filter((l) => l.startsWith("# TYPE "))
      .map((l) => l.split(" ")[2] as string);
    expect(names.length).toBeGreaterThan(10);
    expect(names.filter((m) => !m.startsWith("orderflow_"))).toEqual([]);
  });

  it("/healthz answers while NATS is down; /readyz is 503 with a reason until the server is back", async () => {
    const server = await startServer();
    const system = await startSystem(server);

    const health = await get(system, "/healthz");
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: "ok" });
    const ready = await waitFor("ready", async () => {
      const r = await get(system, "/readyz");
      return r.status === 200 ? r : undefined;
    });
    expect(ready.body).toMatchObject({
      ready: true,
      checks: { connected: true, topology: true, workers: true },
      reasons: [],
    });

    await server.stop();
    const down = await waitFor("not ready while NATS is down", async () => {
      const r = await get(system, "/readyz");
      return r.status === 503 ? r : undefined;
    });
    const body = down.body as { ready: boolean; checks: { connected: boolean }; reasons: string[] };
    expect(body.ready).toBe(false);
    expect(body.checks.connected).toBe(false);
    expect(body.reasons.join("\n")).toMatch(/connection orderflow-up is not connected to NATS/);
    expect((await get(system, "/healthz")).status).toBe(200);

    await server.start();
    const back = await waitFor(
      "ready again after the restart",
      async () => {
        const r = await get(system, "/readyz");
        return r.status === 200 ? r : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(back.body).toMatchObject({ ready: true, reasons: [] });

    // And the pipeline works again: an order published now completes.
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    await publishOrders(nc, 5, { first: 9000 });
    await waitFor("orders after the restart completed", async () => {
      return (await subjectCounts(jsm))["ORDERS.completed"] === 5;
    });
  });

  it("/readyz is 503 when a stage has no worker anywhere", async () => {
    const server = await startServer();
    const system = await startSystem(server, { parts: ["dispatcher"] });
    const nc = await connectTo(server);
    await withTopology(nc);
    const reasons = async (): Promise<string> => {
      const res = await get(system, "/readyz");
      return res.status === 503 ? (res.body as { reasons: string[] }).reasons.join("\n") : "";
    };
    // Nothing to do yet, but nobody would take it: not ready either.
    const idle = await waitFor("not ready: nobody pulls NEW, idle", async () => {
      const r = await reasons();
      return /no workers on NEW/.test(r) ? r : undefined;
    });
    expect(idle).not.toContain("DISPATCH");
    await publishOrders(nc, 3);
    await waitFor("not ready: 3 orders wait on NEW", async () =>
      /NEW: 3 orders waiting/.test(await reasons()),
    );
  });
});
