import { jetstream } from "@nats-io/jetstream";
import type { Msg } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { PullRequester } from "../../src/stages/pull-requester.js";
import { connectTo, publishOrders, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { testServerAtLeast } from "../helpers/server-version.js";
import { waitFor } from "../helpers/wait.js";

function recorder() {
  const r = { delivered: [] as Msg[], problems: [] as string[], ended: 0, answered: 0, gone: [] as string[] };
  return {
    r,
    listener: {
      delivered: (m: Msg) => r.delivered.push(m),
      pullProblem: (d: string) => r.problems.push(d),
      requestEnded: () => {
        r.ended++;
      },
      answered: () => {
        r.answered++;
      },
      consumerGone: (d: string) => r.gone.push(d),
    },
  };
}

describe("pull requests", () => {
  it("count what is owed exactly: deliveries, a fully served request, and the unsent rest of an expired one", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    await publishOrders(nc, 3);
    const { r, listener } = recorder();
    const pulls = new PullRequester(
      nc,
      { stream: "ORDERS", consumer: "NEW", batch: 2, expiresMs: 300 },
      listener,
    );
    pulls.start();
    await nc.flush();
    pulls.pull(2);
    await waitFor("a full batch", () => r.delivered.length === 2);
    // Fully served: the server says nothing more about it, and nothing is owed.
    expect(pulls.outstanding).toBe(0);
    expect(r.ended).toBe(0);

    pulls.pull(5);
    await waitFor("the expiry status", () => r.ended === 1);
    expect(r.delivered).toHaveLength(3);
    expect(pulls.outstanding).toBe(0);
    expect(r.problems).toEqual([]);
    // The 408 at expiry came from the consumer: it exists.
    expect(r.answered).toBe(1);
    expect(r.gone).toEqual([]);
    pulls.stop();
  });

  it("ends requests to a consumer that does not exist: written off on 2.9, refused with a status since 2.10", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    const { r, listener } = recorder();
    const pulls = new PullRequester(
      nc,
      { stream: "ORDERS", consumer: "GONE", batch: 10, expiresMs: 100 },
      listener,
    );
    pulls.start();
    await nc.flush();
    pulls.pull();
    expect(pulls.outstanding).toBe(10);
    expect(pulls.sweep()).toBe(false);
    if (testServerAtLeast("2.10.0")) {
      // Since 2.10 the server answers a pull for a missing consumer at once (a 503 status on the
      // request's own reply subject): the request ends and its problem is reported, nothing to sweep.
      await waitFor("the refusal", () => r.ended === 1);
      expect(r.problems).toEqual([expect.stringMatching(/^ORDERS > GONE: 503\b/)]);
      expect(r.gone).toEqual(["ORDERS > GONE: 503 no responders"]);
    } else {
      // 2.9 says nothing: the request is written off a grace period after its expiry.
      await waitFor("the write-off", () => pulls.sweep());
    }
    expect(pulls.outstanding).toBe(0);
    expect(pulls.openRequests).toBe(0);
    expect(r.delivered).toHaveLength(0);
    expect(r.answered).toBe(0);
    pulls.stop();
  });

  it("reports a consumer deleted under open requests (409) as gone", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const { r, listener } = recorder();
    const pulls = new PullRequester(
      nc,
      { stream: "ORDERS", consumer: "NEW", batch: 10, expiresMs: 30_000 },
      listener,
    );
    pulls.start();
    await nc.flush();
    pulls.pull();
    await waitFor("the request waiting on the server", async () => {
      return (await jsm.consumers.info("ORDERS", "NEW")).num_waiting === 1;
    });
    await jsm.consumers.delete("ORDERS", "NEW");
    await waitFor("the 409", () => r.gone.length === 1);
    expect(r.gone).toEqual([expect.stringMatching(/^ORDERS > NEW: 409 Consumer Deleted$/i)]);
    expect(r.answered).toBe(0);
    expect(pulls.outstanding).toBe(0);
    pulls.stop();
  });

  it("a worker keeps a pull waiting on the server after its requests expire, so new orders go straight out", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const { StageWorker } = await import("../../src/stages/stage-worker.js");
    const { processorStage } = await import("../../src/stages/stage.js");
    const { DEFAULT_TOPOLOGY } = await import("../../src/topology/spec.js");
    // The worker's pull requests and the statuses the server answers them with, in the order they
    // pass: the test's own connection sees both (core subscriptions on the same subjects).
    const events: Array<"request" | "expired"> = [];
    nc.subscribe("$JS.API.CONSUMER.MSG.NEXT.ORDERS.NEW", {
      callback: (_e, m) => {
        if (m.reply) events.push("request");
      },
    });
    nc.subscribe("_INBOX.>", {
      callback: (_e, m) => {
        if (!m.reply && m.headers?.code === 408) events.push("expired");
      },
    });
    await nc.flush();
    const worker = new StageWorker(nc, processorStage({ ...DEFAULT_TOPOLOGY }), { pullExpiresMs: 200 });
    await worker.start();
    // Every expiry (its 408) is followed by a new request, so a pull keeps waiting on the server
    // over expiry after expiry instead of the worker going quiet once its first requests expire.
    const followed = () =>
      events.flatMap((e, i) => (e === "expired" && events.indexOf("request", i + 1) > i ? [i] : []));
    await waitFor("ten expiries, each followed by a new pull request", () => followed().length >= 10, {
      timeoutMs: 20_000,
    });
    await waitFor("a pull waiting", async () => (await jsm.consumers.info("ORDERS", "NEW")).num_waiting > 0);
    await jetstream(nc).publish("ORDERS.received", "1");
    await waitFor("processed", () => worker.stats().processed === 1);
    await worker.stop();
  });
});
