import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { publishRun } from "../../src/bench/order-publisher.js";
import { Part } from "../../src/runtime/up-options.js";
import { get, startSystem } from "../dashboard/system-fixture.js";
import { connectTo, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

const ORDERS = 1_000_000;

describe("orderflow up on a stream whose MONITOR nobody watched", () => {
  it("starts and serves with 1,000,000 events waiting in MONITOR; only the feed's own connection may suffer", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    // Every PubAck awaited, a window of them in flight (the bench's publisher): since 2.11 a
    // server drops what is beyond 10,000 messages waiting to be stored, so a fire-and-forget loop
    // would build a smaller backlog than it counts. MONITOR, with nobody subscribed, keeps them all.
    await publishRun(nc, {
      subject: "ORDERS.received",
      first: 1,
      count: ORDERS,
      msgIds: false,
      window: 1_000,
      ratePerSec: 0,
    });
    expect((await jsm.streams.info("ORDERS")).state.messages).toBe(ORDERS);
    expect((await jsm.consumers.info("ORDERS", "MONITOR")).num_pending).toBe(ORDERS);

    // No stage workers (so /readyz says 503: a backlog and nobody to work it); the test is about
    // the feed, the index and the status reads.
    const system = await startSystem(server, { parts: [Part.Indexer] });
    expect((await get(system, "/healthz")).status).toBe(200);
    // The index answers for the oldest order once it has read the stream.
    await waitFor(
      "order 1 in the lookup",
      async () => JSON.stringify((await get(system, "/api/order?no=1")).body).includes("received"),
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    // The backlog was skipped, not replayed into the page: MONITOR is at its end.
    await waitFor(
      "MONITOR drained",
      async () => (await (await jetstreamManager(nc)).consumers.info("ORDERS", "MONITOR")).num_pending === 0,
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    for (const c of system.connections.all()) {
      if (c.name !== "orderflow-monitor")
        expect({ name: c.name, disconnects: c.disconnects }).toEqual({ name: c.name, disconnects: 0 });
    }
    // Status reads go on: the page's snapshot counts every stored order.
    const snapshot = await get(system, "/api/snapshot");
    expect(snapshot.status).toBe(200);
    expect(snapshot.text).toContain(String(ORDERS));
  }, 240_000);
});
