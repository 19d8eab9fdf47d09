import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { connectTo, publishOrders, subjectCounts, waitSettled, withTopology } from "../helpers/fixtures.js";
import { freePorts } from "../helpers/free-port.js";
import { metricValue, readyz, scrape } from "../helpers/metrics.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";
import { startWorker } from "../helpers/workers.js";

/** The sum of one series over every instance's scrape, as Prometheus' `sum by (stage)` has it. */
function sumOver(texts: readonly string[], series: string): number {
  return texts.reduce((sum, t) => sum + (metricValue(t, series) ?? 0), 0);
}

describe("a fleet: workers as separate processes, each with its own metrics listener", () => {
  it("two processors and two dispatchers: the scrapes of all four add up to the orders sent", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const ports = await freePorts(4);
    const stages = ["processor", "processor", "dispatcher", "dispatcher"] as const;
    const workers = await Promise.all(
      stages.map((stage, i) => startWorker(stage, server.url, ["--metrics-port", String(ports[i])])),
    );
    const urls = await Promise.all(workers.map((w) => w.metricsUrl()));
    expect(urls).toEqual(ports.map((p) => `http://127.0.0.1:${p}/`));
    for (const url of urls) {
      await waitFor(`${url} ready`, async () => (await readyz(url)).status === 200);
    }

    const n = 4_000;
    await publishOrders(nc, n);
    await waitFor("every order completed", async () => (await subjectCounts(jsm))["ORDERS.completed"] === n, {
      timeoutMs: 60_000,
    });
    await waitSettled(jsm, "NEW");
    await waitSettled(jsm, "DISPATCH");

    // Polled rather than read once: the stream's counts and the scrapes are read at different moments.
    const texts = await waitFor("the scrapes add up", async () => {
      const t = await Promise.all(urls.map(scrape));
      const done = ["processor", "dispatcher"].every(
        (s) => sumOver(t, `orderflow_stage_processed_total{stage="${s}"}`) === n,
      );
      return done ? t : undefined;
    });
    for (const stage of ["processor", "dispatcher"]) {
      expect(sumOver(texts, `orderflow_stage_processed_total{stage="${stage}"}`)).toBe(n);
      expect(sumOver(texts, `orderflow_stage_dead_lettered_total{stage="${stage}"}`)).toBe(0);
      expect(sumOver(texts, `orderflow_stage_latency_seconds_count{stage="${stage}",outcome="done"}`)).toBe(
        n,
      );
    }
    // Each process reports its own stage only, and one build series.
    for (const [i, text] of texts.entries()) {
      const own = stages[i] as string;
      const other = own === "processor" ? "dispatcher" : "processor";
      expect(text).toMatch(new RegExp(`^orderflow_build_info\\{[^}]*stage="${own}"[^}]*\\} 1$`, "m"));
      expect(text.match(/^orderflow_build_info\{/gm)).toHaveLength(1);
      expect(text).not.toContain(`stage="${other}"`);
      expect(metricValue(text, `orderflow_nats_connected{connection="orderflow-worker-${own}"}`)).toBe(1);
    }

    // `status --check` reads the consumers, not a process: the same verdict as for `up`.
    const check = await runCli(["status", "--check", "-s", server.url]);
    expect(check.stderr).toBe("");
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(/^OK: orderflow ORDERS: backlog 0, 0 dead letters in the last 15m \| /);
  }, 120_000);
});
