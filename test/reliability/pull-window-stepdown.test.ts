import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { defineStage, processorStage } from "../../src/stages/stage.js";
import { StageWorker } from "../../src/stages/stage-worker.js";
import { DEFAULT_TOPOLOGY } from "../../src/topology/spec.js";
import { runCli } from "../helpers/cli.js";
import { startCluster } from "../helpers/cluster.js";
import { connectTo, publishOrders, subjectCounts } from "../helpers/fixtures.js";
import { waitFor } from "../helpers/wait.js";

const BATCH = 100;
const MAX_IN_FLIGHT = 400;

describe("pull window across consumer leader changes (3-node cluster)", () => {
  it("keeps its whole pull window and every order through three consumer leader step-downs under load", async () => {
    const cluster = await startCluster();
    expect((await runCli(["setup", "--replicas", "3", "-s", cluster.url])).code).toBe(0);
    const nc = await connectTo(cluster.url);
    const jsm = await jetstreamManager(nc);
    const workerNc = await connectTo(cluster.url, "worker");
    const builtIn = processorStage({ ...DEFAULT_TOPOLOGY, replicas: 3 });
    // A handler that takes a little while keeps deliveries and new pulls going on while leadership
    // moves: some requests are being served, others wait on the old leader and are dropped there.
    const slow = defineStage({
      ...builtIn,
      handle: async (order, ctx) => {
        await new Promise((r) => setTimeout(r, 2));
        return builtIn.handle(order, ctx);
      },
    });
    const worker = new StageWorker(workerNc, slow, {
      batch: BATCH,
      maxInFlight: MAX_IN_FLIGHT,
    });
    await worker.start();
    const window = MAX_IN_FLIGHT / BATCH;
    await waitFor("a whole window waiting", async () => {
      return (await jsm.consumers.info("ORDERS", "NEW")).num_waiting === window;
    });

    let published = 0;
    for (let round = 0; round < 3; round++) {
      // Orders keep arriving while leadership moves, so some requests are being served and
      // others are waiting on the old leader when it steps down.
      const load = publishOrders(nc, 2_000, { first: published + 1 });
      await waitFor("the worker busy", () => worker.stats().inFlight > 0, { intervalMs: 5 });
      const before = (await jsm.consumers.info("ORDERS", "NEW")).cluster?.leader;
      await nc.request("$JS.API.CONSUMER.LEADER.STEPDOWN.ORDERS.NEW", "", { timeout: 5_000 });
      await load;
      published += 2_000;
      await waitFor("a new consumer leader", async () => {
        const leader = (await jsm.consumers.info("ORDERS", "NEW")).cluster?.leader;
        return leader && leader !== before;
      });
    }
    await waitFor(
      "every order processed",
      async () => (await subjectCounts(jsm))["ORDERS.processed"] === published,
      { timeoutMs: 60_000 },
    );
    // Quiet again: the worker must be back to a whole window of pulls on the new leader, not
    // holding room for requests that no server remembers.
    await waitFor(
      "the pull window whole again",
      async () => {
        const ci = await jsm.consumers.info("ORDERS", "NEW");
        return ci.num_waiting === window && worker.stats().pullsOutstanding === MAX_IN_FLIGHT;
      },
      { timeoutMs: 20_000 },
    );
    await worker.stop();
    expect(worker.stats().processed).toBeGreaterThanOrEqual(published);
  });
});
