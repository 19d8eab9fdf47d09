import { jetstream } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { OrderIndexer } from "../../src/orders/order-indexer.js";
import { DEFAULT_TOPOLOGY } from "../../src/topology/spec.js";
import { connectTo, publishOrders, tempIndexDir, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

const t = { ...DEFAULT_TOPOLOGY };
const where = {
  memory: () => ":memory:",
  disk: tempIndexDir,
};

describe.each(["memory", "disk"] as const)("order index (%s) when the stream changes under it", (kind) => {
  it("is ready on a purged stream and on one whose last messages were deleted", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    await publishOrders(nc, 10);
    await jsm.streams.purge("ORDERS");
    const purged = new OrderIndexer(await connectTo(server, "indexer-1"), t, { indexDir: where[kind]() });
    await purged.start();
    await purged.ready();
    expect(purged.stats().caughtUp).toBe(true);
    await purged.stop();

    await publishOrders(nc, 10, { first: 11 });
    for (const seq of [18, 19, 20]) await jsm.streams.deleteMessage("ORDERS", seq);
    const trimmed = new OrderIndexer(await connectTo(server, "indexer-2"), t, { indexDir: where[kind]() });
    await trimmed.start();
    await trimmed.ready();
    expect(await trimmed.lookup("17")).toEqual([17]);
    expect(await trimmed.lookup("18")).toEqual([]);
    await trimmed.stop();
  });

  it("rebuilds itself when the stream is deleted and created anew: new orders are found", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    await publishOrders(nc, 50);
    const indexer = new OrderIndexer(await connectTo(server, "indexer"), t, { indexDir: where[kind]() });
    await indexer.start();
    await indexer.ready();
    expect(await indexer.lookup("50")).toEqual([50]);

    await jsm.streams.delete("ORDERS");
    await withTopology(nc);
    await jetstream(nc).publish("ORDERS.received", "new-1");
    await waitFor("the new order indexed", async () => (await indexer.lookup("new-1")).length === 1, {
      timeoutMs: 20_000,
    });
    expect(await indexer.lookup("new-1")).toEqual([1]);
    expect(await indexer.lookup("50")).toEqual([]);
    await indexer.stop();
  });
});
