import { describe, expect, it } from "vitest";
import {
  connectTo,
  publishOrders,
  readSubject,
  subjectCounts,
  waitSettled,
  withTopology,
} from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";
import { startWorker } from "../helpers/workers.js";

describe("worker processes", () => {
  it("move N orders through two processors and two dispatchers: exactly N of each, byte for byte", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    await Promise.all([
      startWorker("processor", server.url),
      startWorker("processor", server.url),
      startWorker("dispatcher", server.url),
      startWorker("dispatcher", server.url),
    ]);
    const n = 5_000;
    await publishOrders(nc, n, { first: 100_001 });
    const counts = await waitFor("all orders completed", async () => {
      const c = await subjectCounts(jsm);
      return c["ORDERS.completed"] === n ? c : undefined;
    });
    expect(counts["ORDERS.received"]).toBe(n);
    expect(counts["ORDERS.processed"]).toBe(n);
    expect(counts["ORDERS.failed"]).toBeUndefined();

    const expectedProcessed = Array.from({ length: n }, (_, i) => `${100_001 + i},processed`).sort();
    const expectedCompleted = Array.from({ length: n }, (_, i) => `${100_001 + i},completed`).sort();
    expect((await readSubject(nc, "ORDERS.processed")).sort()).toEqual(expectedProcessed);
    expect((await readSubject(nc, "ORDERS.completed")).sort()).toEqual(expectedCompleted);
    for (const name of ["NEW", "DISPATCH"]) await waitSettled(jsm, name);
  });
});
