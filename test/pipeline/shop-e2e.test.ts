import { nanos } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import type { StageSpec } from "../../src/topology/pipeline.js";
import { stepsOf } from "../../src/topology/spec.js";
import { runCli } from "../helpers/cli.js";
import { connectTo, readStored, subjectCounts } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { SHOP_CONFIG, shopTopology } from "../helpers/pipelines.js";
import { sleep, waitFor } from "../helpers/wait.js";
import { startWorker, type WorkerProcess } from "../helpers/workers.js";
import { countOf, goodOrders, publishAll } from "../reliability/faults-harness.js";

// Paced so orders keep arriving while the kills land, whatever the machine.
const N = 2_500;
const PER_SECOND = 500;

describe("the shop example: five stages from a pipeline file, worker processes SIGKILLed mid-run", () => {
  it("every order exactly once at every step, byte for byte; a rejected order dead-lettered at its stage", async () => {
    const t = await shopTopology();
    const steps = stepsOf(t);
    expect(steps).toEqual(["received", "validated", "reserved", "paid", "shipped", "completed"]);
    const server = await startServer();
    const setup = await runCli(["--config", SHOP_CONFIG, "setup", "-s", server.url]);
    expect(setup.code, setup.stderr).toBe(0);
    for (const s of ["VALIDATE", "RESERVE", "PAY", "SHIP", "COMPLETE"])
      expect(setup.stdout).toContain(`ORDERS > ${s}: created`);
    const nc = await connectTo(server);
    const jsm = await (await import("@nats-io/jetstream")).jetstreamManager(nc);
    // Deliveries held by a killed worker come back after the ack wait; short, so they do within the run.
    for (const s of t.stages ?? [])
      await jsm.consumers.update("ORDERS", s.consumer, { ack_wait: nanos(1_500) });

    // The payer's file limit (200/s) would make the run long; a flag given overrides the file.
    const args = ["--config", SHOP_CONFIG, "--rate-limit", "0"];
    const names = (t.stages ?? []).map((s) => s.name);
    const current = new Map<string, WorkerProcess>();
    const kills = new Map<string, number>(names.map((n) => [n, 0]));
    await Promise.all(names.map(async (n) => current.set(n, await startWorker(n, server.url, args))));

    const orders = goodOrders(N);
    const rejected = { data: "test-1", msgId: "test-1:received" };
    // One loop per stage, offset from each other: each worker is killed about every second while it
    // holds unacked deliveries, then replaced, for as long as orders are still completing.
    const killLoop = async (stage: StageSpec, offsetMs: number): Promise<void> => {
      await sleep(offsetMs);
      while ((await countOf(jsm, "ORDERS.completed")) < N) {
        await sleep(700);
        for (let tries = 0; tries < 50; tries++) {
          if ((await jsm.consumers.info("ORDERS", stage.consumer)).num_ack_pending > 0) break;
          await sleep(10);
        }
        await current.get(stage.name)?.kill();
        kills.set(stage.name, (kills.get(stage.name) ?? 0) + 1);
        current.set(stage.name, await startWorker(stage.name, server.url, args));
      }
    };
    const killing = Promise.all((t.stages ?? []).map((s, i) => killLoop(s, i * 150)));
    await publishAll(nc, [...orders, rejected], { perSecond: PER_SECOND });
    await waitFor(`${N} completed`, async () => (await countOf(jsm, "ORDERS.completed")) >= N, {
      timeoutMs: 120_000,
      intervalMs: 200,
    });
    await killing;
    // Quiet: nothing pending or unacked anywhere, so no worker has anything left to publish.
    await waitFor(
      "every stage consumer idle",
      async () => {
        for (const s of t.stages ?? []) {
          const ci = await jsm.consumers.info("ORDERS", s.consumer);
          if (ci.num_pending > 0 || ci.num_ack_pending > 0) return false;
        }
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    const exits = await Promise.all(
      [...current.values()].map((w) => {
        w.signal("SIGTERM");
        return w.exited();
      }),
    );

    // The faults happened: every stage was killed at least once, and deliveries came back.
    for (const n of names) expect(kills.get(n), n).toBeGreaterThanOrEqual(1);
    // Every delivery, a redelivery too, takes the next consumer sequence: beyond one per input
    // message, they are the redeliveries the kills caused.
    const counted = await subjectCounts(jsm);
    let redelivered = 0;
    for (const s of t.stages ?? []) {
      const ci = await jsm.consumers.info("ORDERS", s.consumer);
      redelivered += ci.delivered.consumer_seq - (counted[`ORDERS.${s.input}`] ?? 0);
    }
    expect(redelivered).toBeGreaterThan(0);

    // Exactly once at every step, read back message by message.
    const counts = await subjectCounts(jsm);
    const want: Record<string, number> = { "ORDERS.failed": 1 };
    for (const step of steps) want[`ORDERS.${step}`] = N;
    want["ORDERS.received"] = N + 1;
    expect(counts).toEqual(want);
    const decoder = new TextDecoder();
    for (const step of steps) {
      const stored = await readStored(nc, `ORDERS.${step}`);
      const payloads = stored.map((m) => decoder.decode(m.data));
      const expected = orders.map((o) =>
        step === "received" ? String(o.data) : `${String(o.data)},${step}`,
      );
      if (step === "received") expected.push("test-1");
      expect(new Set(payloads).size, step).toBe(payloads.length);
      expect([...payloads].sort(), step).toEqual([...expected].sort());
    }
    const [dead] = await readStored(nc, "ORDERS.failed");
    expect(dead?.headers.get("Orderflow-Stage")).toBe("validator");
    expect(dead?.headers.get("Orderflow-Reason")).toBe("test-order");
    expect(
      exits.every((c) => c === 0),
      String(exits),
    ).toBe(true);
  });
});
