import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { measureStatus, StatusSampler } from "../../src/status/status-sampler.js";
import { DEFAULT_TOPOLOGY } from "../../src/topology/spec.js";
import { startCli, waitForLines } from "../helpers/background-cli.js";
import { runCli } from "../helpers/cli.js";
import { connectTo, publishOrders, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { testServerVersion } from "../helpers/server-version.js";
import { sleep, waitFor } from "../helpers/wait.js";
import { simulateStage } from "./simulated-stage.js";

const t = { ...DEFAULT_TOPOLOGY };

async function statusJson(url: string, window = "500ms") {
  const res = await runCli(["status", "-s", url, "--json", "--window", window]);
  expect(res.stderr).toBe("");
  expect(res.code).toBe(0);
  return JSON.parse(res.stdout);
}

describe("orderflow status", () => {
  it("says no workers are attached when orders wait and nobody pulls", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    await publishOrders(nc, 5);

    const json = await statusJson(server.url);
    expect(json.verdict).toBe("no-workers");
    expect(json.subjects.received.messages).toBe(5);
    expect(json.consumers.NEW).toMatchObject({ numPending: 5, numAckPending: 0, numWaiting: 0 });
    // DISPATCH has nothing to do, and no worker either.
    expect(json.findings).toEqual([
      expect.objectContaining({ kind: "no-workers", consumer: "NEW" }),
      expect.objectContaining({ kind: "idle", consumers: ["DISPATCH"] }),
    ]);

    // The server's version (and API level from 2.11) comes first, as in `info` and `up`.
    expect(json.server.version).toBe(testServerVersion());
    const text = await runCli(["status", "-s", server.url, "--window", "300ms"]);
    expect(text.code).toBe(0);
    expect(text.stdout.split("\n")[0]).toMatch(
      new RegExp(`^server: nats-server ${testServerVersion().replaceAll(".", "\\.")}, `),
    );
    expect(text.stdout).toMatch(/ORDERS\.received\s+5\s/);
    expect(text.stdout).toMatch(/NEW\s+5\s+0\s+0\s+0\s/);
    expect(text.stdout).toMatch(
      /^verdict: no workers attached: NEW: 5 orders waiting and nothing pulled or acked them/m,
    );
  });

  it("is healthy when workers keep up, and counts every stage from the stream", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    await simulateStage(nc, "NEW");
    await simulateStage(nc, "DISPATCH");
    await publishOrders(nc, 200);
    await waitFor("all orders completed", async () => (await subjectCounts(jsm))["ORDERS.completed"] === 200);

    const json = await statusJson(server.url);
    expect(json.verdict).toBe("healthy");
    expect(json.findings).toEqual([]);
    expect(json.subjects.received.messages).toBe(200);
    expect(json.subjects.processed.messages).toBe(200);
    expect(json.subjects.completed.messages).toBe(200);
    expect(json.subjects.failed.messages).toBe(0);
    expect(json.consumers.NEW.numPending).toBe(0);
    expect(json.consumers.NEW.numWaiting).toBeGreaterThan(0);
    expect(json.consumers.DISPATCH.numWaiting).toBeGreaterThan(0);

    const text = await runCli(["status", "-s", server.url, "--window", "300ms"]);
    expect(text.stdout).toMatch(/^verdict: healthy: all caught up, no failures$/m);
  });

  it("says idle, naming NEW and DISPATCH, when nothing waits but no worker is connected", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);

    const json = await statusJson(server.url);
    expect(json.verdict).toBe("idle");
    expect(json.findings).toEqual([
      expect.objectContaining({ kind: "idle", consumers: ["NEW", "DISPATCH"] }),
    ]);
    const text = await runCli(["status", "-s", server.url, "--window", "300ms"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^verdict: idle: no workers on NEW, DISPATCH \(nothing pending/m);
    expect(text.stdout).not.toContain("all caught up");

    // With a worker on each, the same empty pipeline is healthy.
    await simulateStage(nc, "NEW");
    await simulateStage(nc, "DISPATCH");
    expect((await statusJson(server.url)).verdict).toBe("healthy");
  });

  it("reports failures present once ORDERS.failed holds a dead letter", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    await simulateStage(nc, "NEW");
    await simulateStage(nc, "DISPATCH");
    await jetstream(nc).publish("ORDERS.failed", "a,b");

    const json = await statusJson(server.url);
    expect(json.verdict).toBe("failures-present");
    expect(json.subjects.failed.messages).toBe(1);
    expect(json.findings).toEqual([expect.objectContaining({ kind: "failures-present" })]);
    expect(json.findings[0].message).toMatch(/^1 dead-lettered order in ORDERS/);
  });

  it("reports a growing backlog when orders arrive faster than a worker acks them", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    await simulateStage(nc, "NEW", { delayMs: 50, batch: 1 });
    await simulateStage(nc, "DISPATCH");
    const js = jetstream(nc);
    let publishing = true;
    let n = 0;
    const producer = (async () => {
      while (publishing) {
        await Promise.all(Array.from({ length: 10 }, () => js.publish("ORDERS.received", String(++n))));
        await sleep(20);
      }
    })();
    try {
      await waitFor(
        "the worker to have processed some",
        async () => ((await subjectCounts(jsm))["ORDERS.processed"] ?? 0) > 0,
      );
      const report = await measureStatus(jsm, t, { windowMs: 1000 });
      expect(report.verdict).toBe("backlog-growing");
      expect(report.findings[0]).toMatchObject({ kind: "backlog-growing", consumer: "NEW" });
      expect(report.consumerRates.new?.deliveredPerSecond).toBeGreaterThan(0);
      expect(report.rates.received).toBeGreaterThan(report.rates.processed ?? Number.POSITIVE_INFINITY);
    } finally {
      publishing = false;
      await producer;
    }
  });

  it("--watch prints a report per interval over a sliding window until Ctrl-C", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    await publishOrders(nc, 3);
    const watch = startCli([
      "status",
      "-s",
      server.url,
      "--watch",
      "--json",
      "--interval",
      "200ms",
      "--window",
      "400ms",
    ]);
    const lines = await waitForLines(watch, 4, "four reports");
    const reports = lines.map((l) => JSON.parse(l));
    expect(reports.every((r) => r.verdict === "no-workers")).toBe(true);
    // The window slides: once there is history, every report covers at least 400 ms.
    expect(reports[3].windowMs).toBeGreaterThanOrEqual(400);
    expect(await watch.interrupt()).toBe(0);
  });

  it("fails in one line when the stream or a consumer is missing", async () => {
    const server = await startServer();
    const missing = await runCli(["status", "-s", server.url]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe("orderflow: stream ORDERS not found; run `orderflow setup` first");

    const nc = await connectTo(server);
    await withTopology(nc);
    await (await jetstreamManager(nc)).consumers.delete("ORDERS", "DISPATCH");
    const noConsumer = await runCli(["status", "-s", server.url]);
    expect(noConsumer.code).toBe(1);
    expect(noConsumer.stderr.trim()).toBe(
      "orderflow: consumer ORDERS > DISPATCH not found; run `orderflow setup` first",
    );
    const badWindow = await runCli(["status", "-s", server.url, "--window", "later"]);
    expect(badWindow.code).toBe(1);
    expect(badWindow.stderr).toMatch(/^orderflow: --window: "later" is not a duration/);
  });
});

describe("StatusSampler", () => {
  it("keeps reporting through a server restart and tells its error listener meanwhile", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const sampler = new StatusSampler(jsm, t, { intervalMs: 100, windowMs: 300 });
    const reports: unknown[] = [];
    const errors: unknown[] = [];
    sampler.on((r) => reports.push(r));
    sampler.onError((e) => errors.push(e));
    await sampler.start();
    await waitFor("a report", () => reports.length > 0);
    await server.stop();
    await waitFor("a failed sample", () => errors.length > 0);
    await server.start();
    const before = reports.length;
    await waitFor("reports again after the restart", () => reports.length > before, { timeoutMs: 30_000 });
    await sampler.stop();
    // Nothing was published and no worker runs: the sampler reads on, and says so.
    expect(sampler.latest()?.verdict).toBe("idle");
  });
});
