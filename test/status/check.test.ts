import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it, onTestFinished } from "vitest";
import { runCli } from "../helpers/cli.js";
import { connectTo, publishOrders, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";
import { simulateStage } from "./simulated-stage.js";

function check(url: string, ...args: string[]) {
  return runCli(["status", "--check", "-s", url, "--window", "300ms", ...args]);
}

describe("orderflow status --check", () => {
  it("is OK (exit 0) when workers keep up, with Nagios perfdata", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    await simulateStage(nc, "NEW");
    await simulateStage(nc, "DISPATCH");
    await publishOrders(nc, 20);
    await waitFor("completions", async () => (await subjectCounts(jsm))["ORDERS.completed"] === 20);

    const res = await check(server.url);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    const [first] = res.stdout.split("\n");
    expect(first).toMatch(/^OK: orderflow ORDERS: backlog 0, 0 dead letters in the last 15m \| /);
    expect(first).toContain("pending_NEW=0;1000;10000;0");
    expect(first).toContain("dead_letters=0;1;100;0");
  });

  it("is WARNING (exit 1) for a dead letter in the window, and counts only the window", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    await simulateStage(nc, "NEW");
    await simulateStage(nc, "DISPATCH");
    await jetstream(nc).publish("ORDERS.failed", "7");

    const res = await check(server.url, "--format", "json");
    expect(res.code).toBe(1);
    const json = JSON.parse(res.stdout);
    expect(json).toMatchObject({ status: "WARNING", code: 1 });
    expect(json.problems).toEqual(["1 dead letters in the last 15m (>= 1)"]);
    expect(json.measures).toContainEqual(
      expect.objectContaining({ name: "dead_letters", value: 1, state: "WARNING" }),
    );

    const critical = await check(server.url, "--dead-letters-critical", "1", "--dead-letters-warn", "0");
    expect(critical.code).toBe(2);
    expect(critical.stdout).toMatch(/^CRITICAL: /);

    // A window that starts after the dead letter was stored sees none (once a second has passed).
    let later = critical;
    await waitFor("the dead letter to fall out of a 1 s window", async () => {
      later = await check(server.url, "--dead-letter-window", "1s");
      return later.code === 0;
    });
    expect(later.stdout).toMatch(/^OK: /);
    expect(later.code).toBe(0);
  });

  it("is CRITICAL (exit 2) when orders wait and no worker pulls, or the pipeline is missing", async () => {
    const server = await startServer();
    const missing = await check(server.url);
    expect(missing.code).toBe(2);
    expect(missing.stdout.trim()).toBe(
      "CRITICAL: orderflow: stream ORDERS not found; run `orderflow setup` first",
    );

    const nc = await connectTo(server);
    await withTopology(nc);
    await publishOrders(nc, 5);
    const res = await check(server.url);
    expect(res.code).toBe(2);
    expect(res.stdout).toMatch(/^CRITICAL: orderflow ORDERS: no workers: NEW: 5 orders waiting/);
    expect(res.stdout).toContain("no_workers_NEW=1;;1;0");

    await (await jetstreamManager(nc)).consumers.delete("ORDERS", "DISPATCH");
    const noConsumer = await check(server.url);
    expect(noConsumer.code).toBe(2);
    expect(noConsumer.stdout).toMatch(/^CRITICAL: orderflow: consumer ORDERS > DISPATCH not found/);
  });

  it("is WARNING when ack pending passes its threshold, in the Prometheus format too", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    // A worker with room for more (its pull stays open) that has not acked yet: not "no workers".
    const held = await (await jetstream(nc).consumers.get("ORDERS", "NEW")).consume({ max_messages: 100 });
    const holding = (async () => {
      for await (const _m of held) {
        // Deliberately unacked: they stay ack pending until the test ends.
      }
    })();
    onTestFinished(async () => {
      await held.close();
      await holding;
    });
    await simulateStage(nc, "DISPATCH");
    await publishOrders(nc, 30);
    const res = await check(server.url, "--ack-pending-warn", "10", "--format", "prometheus");
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/^orderflow_check_status 1$/m);
    expect(res.stdout).toMatch(/^orderflow_check_value\{check="ackPending",consumer="NEW"\} 30$/m);
    expect(res.stdout).toMatch(/^orderflow_check_measure_status\{check="ackPending",consumer="NEW"\} 1$/m);
    expect(res.stdout).toMatch(
      /^orderflow_check_threshold\{check="ackPending",consumer="NEW",level="warn"\} 10$/m,
    );
  });

  it("is UNKNOWN (exit 3) when NATS is unreachable or the thresholds contradict each other", async () => {
    const server = await startServer();
    const url = server.url;
    await server.stop();
    const res = await check(url);
    expect(res.code).toBe(3);
    expect(res.stdout).toMatch(/^UNKNOWN: orderflow: cannot connect to NATS at /);

    const bad = await check(url, "--backlog-warn", "100", "--backlog-critical", "10");
    expect(bad.code).toBe(3);
    expect(bad.stdout).toMatch(/^UNKNOWN: .*--backlog-warn \(100\) is above --backlog-critical \(10\)/);
  });
});
