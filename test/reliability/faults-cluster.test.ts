import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { startCluster } from "../helpers/cluster.js";
import { connectTo, subjectCounts } from "../helpers/fixtures.js";
import { waitFor } from "../helpers/wait.js";
import {
  countOf,
  expectCompletedExactlyOnce,
  Fleet,
  goodOrders,
  publishAll,
  shortenAckWait,
  waitForCount,
  waitForQuiet,
} from "./faults-harness.js";

const N = 10_000;
const PER_SECOND = 1_000;

describe("fault: the R3 stream leader SIGKILLed on a 3-node cluster", () => {
  it("workers given all three URLs keep going through the other nodes; every order completes exactly once", async () => {
    const cluster = await startCluster();
    const setup = await runCli(["setup", "--replicas", "3", "-s", cluster.url]);
    expect(setup.stderr).toBe("");
    expect(setup.code).toBe(0);
    const nc = await connectTo(cluster.url);
    const jsm = await jetstreamManager(nc);
    await shortenAckWait(jsm);
    const fleet = new Fleet(cluster.url);
    await fleet.startBoth();
    const publishing = publishAll(nc, goodOrders(N), { perSecond: PER_SECOND });

    await waitForCount(jsm, "ORDERS.received", N / 4);
    const leader = await cluster.leaderOf("ORDERS");
    const completedAtKill = await countOf(jsm, "ORDERS.completed");
    await cluster.kill(leader);
    const newLeader = await cluster.leaderOf("ORDERS");
    // Work goes on through the two surviving nodes before the dead one comes back.
    await waitForCount(jsm, "ORDERS.completed", completedAtKill + N / 5);
    await cluster.restart(leader);
    // The restarted node catches up and is a current replica again.
    await waitFor(
      `${cluster.names[leader]} current again`,
      async () => {
        const peers = (await jsm.streams.info("ORDERS")).cluster?.replicas ?? [];
        return peers.length === 2 && peers.every((p) => p.current && !p.offline);
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );

    const published = await publishing;
    await waitForQuiet(jsm, N);
    const exitCodes = await fleet.stopAll();

    // The fault happened mid-run: leadership moved, and writes failed until it had.
    expect(completedAtKill).toBeLessThan(N);
    expect(newLeader).not.toBe(leader);
    expect(published.retries).toBeGreaterThan(0);
    // The same two worker processes saw it through.
    expect(fleet.all).toHaveLength(2);
    expect(exitCodes).toEqual([0, 0]);
    expect(await subjectCounts(jsm)).toEqual({
      "ORDERS.received": N,
      "ORDERS.processed": N,
      "ORDERS.completed": N,
    });
    await expectCompletedExactlyOnce(
      nc,
      goodOrders(N).map((o) => String(o.data)),
    );
  });
});
