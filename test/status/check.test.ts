import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/nats-core";
import { describe, expect, it, onTestFinished } from "vitest";
import { DeadLetterHeader } from "../../src/stages/dead-letter.js";
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
    expect(json.problems).toEqual(["1 dead letter in the last 15m (>= 1)"]);
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

  it("a replayed dead letter, its order completed, leaves the check OK and status healthy; status rows add up", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    await simulateStage(nc, "NEW");
    await simulateStage(nc, "DISPATCH");
    await publishOrders(nc, 3);
    const js = jetstream(nc);
    const deadLetter = (orderNo: string) => {
      const h = headers();
      h.set(DeadLetterHeader.SourceSubject, "ORDERS.received");
      h.set(DeadLetterHeader.OrderNo, orderNo);
      h.set(DeadLetterHeader.Reason, "ends-in-7");
      return js.publish("ORDERS.failed", orderNo, { headers: h });
    };
    for (const n of ["7", "17", "27"]) await deadLetter(n);
    await waitFor("completions", async () => (await subjectCounts(jsm))["ORDERS.completed"] === 3);
    const before = await check(server.url);
    expect(before.code).toBe(1);
    expect(before.stdout).toMatch(/^WARNING: orderflow ORDERS: 3 dead letters in the last 15m \(>= 1\)/);

    const replay = await runCli(["dead-letters", "-s", server.url, "replay", "--all"]);
    expect(replay.stdout.trim()).toBe("replayed 3, already replayed 0, skipped 0");
    await waitFor(
      "the replayed orders completed",
      async () => (await subjectCounts(jsm))["ORDERS.completed"] === 6,
    );

    const after = await check(server.url, "--format", "json");
    expect(after.code).toBe(0);
    const json = JSON.parse(after.stdout);
    expect(json.summary).toBe(
      "orderflow ORDERS: backlog 0, 0 dead letters in the last 15m (3 more replayed)",
    );
    expect(json.measures).toContainEqual(
      expect.objectContaining({ name: "dead_letters", value: 0, state: "OK" }),
    );
    expect(json.measures).toContainEqual(
      expect.objectContaining({
        name: "last_completion_age",
        check: "completionAgeSeconds",
        unit: "seconds",
      }),
    );

    // One more dead letter, not replayed: that one counts, the replayed ones still do not.
    await deadLetter("37");
    const again = await check(server.url);
    expect(again.code).toBe(1);
    expect(again.stdout).toMatch(
      /^WARNING: orderflow ORDERS: 1 dead letter in the last 15m \(3 more replayed\) \(>= 1\)/,
    );

    const status = await runCli(["status", "-s", server.url, "--window", "300ms"]);
    expect(status.code).toBe(0);
    const total = Number(/; (\d+) messages, last seq/.exec(status.stdout)?.[1]);
    const rows = status.stdout.split("\n").filter((l) => l.startsWith("ORDERS."));
    expect(rows.map((l) => l.split(/\s+/)[0])).toEqual([
      "ORDERS.received",
      "ORDERS.processed",
      "ORDERS.completed",
      "ORDERS.failed",
      "ORDERS.replayed",
    ]);
    expect(rows.reduce((sum, l) => sum + Number(l.split(/\s+/)[1]), 0)).toBe(total);
    expect(status.stdout).toMatch(
      /^verdict: failures present: 1 dead-lettered order in ORDERS \(3 replayed; /m,
    );

    // The dead letters purged (the replayed ones with them), two new ones: both count; replays of
    // dead letters no longer stored cannot hide them.
    await jsm.streams.purge("ORDERS", { filter: "ORDERS.failed" });
    await deadLetter("47");
    await deadLetter("57");
    const purged = await runCli(["status", "-s", server.url, "--window", "300ms", "--json"]);
    expect(JSON.parse(purged.stdout)).toMatchObject({ replayedDeadLetters: 0, unreplayedDeadLetters: 2 });
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
