import { describe, expect, it } from "vitest";
import { connectTo, publishOrders, readSubject, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";
import { startUp } from "./up-process.js";

describe("orderflow up: Ctrl-C", () => {
  it("drains in-flight orders and exits 0 with nothing unacked; a second run finishes the rest exactly once", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const n = 20_000;
    // Small batches keep many pull requests and acks in flight at the moment of the signal.
    const args = ["-s", server.url, "--port", "0", "--batch", "25", "--max-in-flight", "200"];
    const up = startUp(args);
    await up.dashboard();
    const publishing = publishOrders(nc, n);
    await waitFor("orders flowing", async () => ((await subjectCounts(jsm))["ORDERS.completed"] ?? 0) >= 500);

    expect(await up.interrupt()).toBe(0);
    expect(up.stdout()).toMatch(/stopping: draining in-flight orders…\nstopped\n$/);
    expect(up.stderr()).not.toMatch(/"level":50/);
    await publishing;

    for (const consumer of ["NEW", "DISPATCH"]) {
      const ci = await jsm.consumers.info("ORDERS", consumer);
      expect(ci.num_ack_pending, `${consumer} ack pending after Ctrl-C`).toBe(0);
    }
    const counts = await subjectCounts(jsm);
    // Stopped part-way (else the test proves nothing about draining under load).
    expect(counts["ORDERS.completed"] ?? 0).toBeLessThan(n);

    const again = startUp(args);
    await again.dashboard();
    await waitFor(
      "every order completed after the second run",
      async () => (await subjectCounts(jsm))["ORDERS.completed"] === n,
      { timeoutMs: 60_000 },
    );
    expect(await again.interrupt()).toBe(0);
    const final = await subjectCounts(jsm);
    expect(final["ORDERS.received"]).toBe(n);
    expect(final["ORDERS.processed"]).toBe(n);
    expect(final["ORDERS.failed"]).toBeUndefined();
    const completed = await readSubject(nc, "ORDERS.completed");
    expect(new Set(completed).size).toBe(n);
  });
});
