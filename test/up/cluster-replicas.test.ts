import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { startCluster } from "../helpers/cluster.js";
import { connectTo } from "../helpers/fixtures.js";
import { startUp } from "./up-process.js";

// `up` has no --replicas: `setup` owns the replica count. A fleet's dashboard (`up --workers indexer`
// against an R3 topology, deploy/k8s/dashboard.yaml) must neither scale it down to R1 (as admin) nor
// fail on the update it is not allowed to make (as monitor).
describe("orderflow up on a cluster", () => {
  it("keeps the replica count setup gave the stream and its consumers", async () => {
    const cluster = await startCluster();
    expect((await runCli(["setup", "--replicas", "3", "-s", cluster.url])).code).toBe(0);

    const up = startUp(["--workers", "indexer", "--index-dir", ":memory:", "--port", "0", "-s", cluster.url]);
    await up.dashboard();
    expect(up.stdout()).toContain("topology: ORDERS up to date");

    const jsm = await jetstreamManager(await connectTo(cluster.url));
    expect((await jsm.streams.info("ORDERS")).config.num_replicas).toBe(3);
    for (const name of ["NEW", "DISPATCH", "MONITOR"]) {
      expect((await jsm.consumers.info("ORDERS", name)).config.num_replicas, name).toBe(3);
    }
    expect(await up.interrupt()).toBe(0);
  });
});
