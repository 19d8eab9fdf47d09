import { describe, expect, it } from "vitest";
import { connectTo, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";
import {
  countReconnects,
  countStatus,
  expectCompletedExactlyOnce,
  Fleet,
  goodOrders,
  publishAll,
  shortenAckWait,
  waitForCount,
  waitForQuiet,
} from "./faults-harness.js";

const N = 15_000;
const PER_SECOND = 1_500;
const CRASHES = 3;
const RECONNECTED = "reconnected to NATS";
const DISCONNECTED = "disconnected from NATS; reconnecting";

describe("fault: the nats-server SIGKILLed and restarted on the same store", () => {
  it("three crashes mid-run: workers reconnect and every order completes exactly once", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    await shortenAckWait(jsm);
    const clientReconnects = countReconnects(nc);
    const clientDisconnects = countStatus(nc, "disconnect");
    const fleet = new Fleet(server.url);
    await fleet.startBoth();
    const publishing = publishAll(nc, goodOrders(N), { perSecond: PER_SECOND });

    for (let crash = 1; crash <= CRASHES; crash++) {
      // Crash while orders are still arriving: after a quarter, a half, three quarters of them.
      await waitForCount(jsm, "ORDERS.received", Math.floor((crash * N) / (CRASHES + 1)));
      await server.kill();
      // Down until every client has noticed and started reconnecting.
      await waitFor(
        `workers and test client disconnected by crash ${crash}`,
        () => clientDisconnects.count >= crash && fleet.logCounts(DISCONNECTED).every((k) => k >= crash),
        { timeoutMs: 20_000 },
      );
      await server.start();
      await waitFor(
        `workers and test client reconnected after crash ${crash}`,
        () => clientReconnects.count >= crash && fleet.logCounts(RECONNECTED).every((k) => k >= crash),
        { timeoutMs: 20_000 },
      );
    }
    const published = await publishing;
    await waitForQuiet(jsm, N);
    const exitCodes = await fleet.stopAll();

    // The faults happened, and every party lived through each of them: publishes failed and were
    // sent again, each client reconnected once per crash, no worker process had to be replaced.
    expect(published.retries).toBeGreaterThan(0);
    expect(clientReconnects.count).toBe(CRASHES);
    expect(fleet.logCounts(RECONNECTED)).toEqual([CRASHES, CRASHES]);
    expect(fleet.all).toHaveLength(2);
    // Deliveries unacked at each crash (and acks the server had not saved yet) came back.
    expect(fleet.redeliveriesLogged()).toBeGreaterThan(0);
    // Exactly once, from the restarted store.
    expect(await subjectCounts(jsm)).toEqual({
      "ORDERS.received": N,
      "ORDERS.processed": N,
      "ORDERS.completed": N,
    });
    await expectCompletedExactlyOnce(
      nc,
      goodOrders(N).map((o) => String(o.data)),
    );
    expect(exitCodes).toEqual([0, 0]);
  });
});
