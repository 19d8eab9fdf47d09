import { describe, expect, it } from "vitest";
import { connectTo, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import {
  auditCompleted,
  ConsumerProbe,
  expectCompletedExactlyOnce,
  Fleet,
  goodOrders,
  killWorkersUntilDone,
  publishAll,
  readStored,
  redeliveriesOf,
  shortenAckWait,
  waitForQuiet,
} from "./faults-harness.js";

// Paced so the run lasts about ten seconds whatever the machine: kills land while orders arrive.
const N = 20_000;
const PER_SECOND = 2_000;
const ORDER_NOS = goodOrders(N).map((o) => String(o.data));

/** N paced orders through one processor and one dispatcher process, both SIGKILLed every second or two. */
async function runWithWorkerKills(workerArgs: string[]) {
  const server = await startServer();
  const nc = await connectTo(server);
  const jsm = await withTopology(nc);
  await shortenAckWait(jsm);
  const fleet = new Fleet(server.url, workerArgs);
  await fleet.startBoth();
  const probe = new ConsumerProbe(jsm);
  const [published, kills] = await Promise.all([
    publishAll(nc, goodOrders(N), { perSecond: PER_SECOND }),
    killWorkersUntilDone(fleet, jsm, N),
  ]);
  await waitForQuiet(jsm, N);
  await probe.stop();
  const exitCodes = await fleet.stopAll();
  const counts = await subjectCounts(jsm);
  const redelivered = {
    NEW: await redeliveriesOf(jsm, "NEW", N),
    DISPATCH: await redeliveriesOf(jsm, "DISPATCH", counts["ORDERS.processed"] ?? 0),
  };
  return { nc, jsm, fleet, probe, published, kills, exitCodes, counts, redelivered };
}

describe("fault: worker processes SIGKILLed mid-run", () => {
  it("processor and dispatcher killed every second or two: every order completed exactly once, after redeliveries", async () => {
    const run = await runWithWorkerKills([]);
    // The faults happened: several kills of each stage while it had work left, and deliveries
    // held by the dead processes came back to their replacements.
    expect(run.fleet.kills.processor, run.kills.join("\n")).toBeGreaterThanOrEqual(3);
    expect(run.fleet.kills.dispatcher, run.kills.join("\n")).toBeGreaterThanOrEqual(3);
    expect(run.redelivered.NEW).toBeGreaterThan(0);
    expect(run.redelivered.DISPATCH).toBeGreaterThan(0);
    expect(run.probe.maxRedelivered).toBeGreaterThan(0);
    expect(run.fleet.redeliveriesLogged()).toBeGreaterThan(0);
    // Nothing lost, nothing twice: counted by the server and read back order by order.
    expect(run.counts).toEqual({ "ORDERS.received": N, "ORDERS.processed": N, "ORDERS.completed": N });
    await expectCompletedExactlyOnce(run.nc, ORDER_NOS);
    // The last workers drained and exited cleanly.
    expect(run.exitCodes).toEqual([0, 0]);
  });

  it("control: the same faults with message ids off store duplicates, so the checks above can fail", async () => {
    const run = await runWithWorkerKills(["--no-msg-ids"]);
    expect(run.fleet.kills.processor + run.fleet.kills.dispatcher).toBeGreaterThanOrEqual(6);
    const audit = auditCompleted(await readStored(run.nc, "ORDERS.completed"), ORDER_NOS);
    // At-least-once still holds: no order is missing ...
    expect(audit.lost).toEqual([]);
    expect(audit.unexpected).toEqual([]);
    // ... but without dedupe a redelivered order is stored again.
    expect(audit.duplicated.length).toBeGreaterThan(0);
    expect(audit.stored).toBeGreaterThan(N);
    expect(run.counts["ORDERS.completed"]).toBe(audit.stored);
    // The very checks the fault tests make would have failed.
    await expect(expectCompletedExactlyOnce(run.nc, ORDER_NOS)).rejects.toThrow(/to deeply equal/);
    expect(run.exitCodes).toEqual([0, 0]);
  });
});
