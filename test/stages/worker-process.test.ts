import { nanos } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { connectTo, publishOrders, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { sleep, waitFor } from "../helpers/wait.js";
import { startWorker, type WorkerProcess } from "../helpers/workers.js";

function redeliveriesSeen(workers: WorkerProcess[]): number {
  let n = 0;
  for (const w of workers) {
    const summaries = w.logLines().filter((l) => typeof l.redelivered === "number");
    n += Number(summaries.at(-1)?.redelivered ?? 0);
  }
  return n;
}

describe("worker processes under faults", () => {
  it("SIGKILLed and restarted mid-run: still exactly N processed and N completed, with redeliveries", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    // A short ack wait so deliveries held by a killed worker come back within the test.
    for (const c of ["NEW", "DISPATCH"]) await jsm.consumers.update("ORDERS", c, { ack_wait: nanos(1_000) });
    const n = 20_000;
    const all: WorkerProcess[] = [];
    let processor = await startWorker("processor", server.url, ["--batch", "50", "--max-in-flight", "200"]);
    let dispatcher = await startWorker("dispatcher", server.url, ["--batch", "50", "--max-in-flight", "200"]);
    all.push(processor, dispatcher);
    const publishing = publishOrders(nc, n);
    for (let kill = 0; kill < 3; kill++) {
      await waitFor("progress before the kill", async () => {
        const c = await subjectCounts(jsm);
        return (c["ORDERS.completed"] ?? 0) >= (kill + 1) * 2_000;
      });
      await processor.kill();
      await dispatcher.kill();
      await sleep(300);
      processor = await startWorker("processor", server.url, ["--batch", "50", "--max-in-flight", "200"]);
      dispatcher = await startWorker("dispatcher", server.url, ["--batch", "50", "--max-in-flight", "200"]);
      all.push(processor, dispatcher);
    }
    await publishing;
    const counts = await waitFor(
      "all orders completed",
      async () => {
        const c = await subjectCounts(jsm);
        return c["ORDERS.completed"] === n ? c : undefined;
      },
      { timeoutMs: 45_000 },
    );
    expect(counts["ORDERS.received"]).toBe(n);
    expect(counts["ORDERS.processed"]).toBe(n);
    expect(counts["ORDERS.failed"]).toBeUndefined();
    processor.signal("SIGTERM");
    dispatcher.signal("SIGTERM");
    expect(await processor.exited()).toBe(0);
    expect(await dispatcher.exited()).toBe(0);
    expect(redeliveriesSeen(all)).toBeGreaterThan(0);
  });

  it("SIGTERM mid-run drains: exit 0, nothing left unacked, and a new worker finishes exactly N", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const n = 20_000;
    await publishOrders(nc, n);
    const processor = await startWorker("processor", server.url);
    await waitFor(
      "some orders processed",
      async () => ((await subjectCounts(jsm))["ORDERS.processed"] ?? 0) > 1_000,
    );
    processor.signal("SIGTERM");
    expect(await processor.exited()).toBe(0);
    expect(processor.output).toContain('"processor stopped"');

    const ci = await jsm.consumers.info("ORDERS", "NEW");
    expect(ci.num_ack_pending).toBe(0);
    const processed = (await subjectCounts(jsm))["ORDERS.processed"] ?? 0;
    expect(processed).toBeLessThan(n);
    expect(processed + ci.num_pending).toBe(n);

    const second = await startWorker("processor", server.url);
    await waitFor("the rest processed", async () => (await subjectCounts(jsm))["ORDERS.processed"] === n);
    second.signal("SIGTERM");
    expect(await second.exited()).toBe(0);
    expect((await subjectCounts(jsm))["ORDERS.processed"]).toBe(n);
  });

  it("tells the operator to run setup when the consumer is missing", async () => {
    const server = await startServer();
    const res = await runCli(["worker", "processor", "-s", server.url]);
    expect(res.code).toBe(1);
    expect(res.stderr.trim()).toBe("orderflow: stream ORDERS not found; run `orderflow setup` first");
    const bad = await runCli(["worker", "packer", "-s", server.url]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe('orderflow: unknown stage "packer"; use processor or dispatcher');
  });
});
