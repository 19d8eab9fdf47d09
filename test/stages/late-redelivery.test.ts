import { type JetStreamManager, jetstream } from "@nats-io/jetstream";
import { type NatsConnection, nanos } from "@nats-io/nats-core";
import { describe, expect, it, onTestFinished } from "vitest";
import { LateRedeliveryError } from "../../src/common/errors.js";
import { IndexOutputLedger } from "../../src/orders/index-output-ledger.js";
import { OrderIndexer } from "../../src/orders/order-indexer.js";
import { createStageWorker } from "../../src/runtime/create-stage-worker.js";
import { LateRedeliveries } from "../../src/stages/output-ledger.js";
import { processorStage } from "../../src/stages/stage.js";
import { StageWorker } from "../../src/stages/stage-worker.js";
import { DEFAULT_TOPOLOGY } from "../../src/topology/spec.js";
import { connectTo, readSubject, subjectCounts, waitSettled, withTopology } from "../helpers/fixtures.js";
import { type NatsServer, startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

const t = { ...DEFAULT_TOPOLOGY };
const DUPLICATE_WINDOW_MS = 3_000;
const ACK_WAIT_MS = 1_000;

/** A stream with a 3 s duplicate window and a NEW consumer with a 1 s ack wait. */
async function shortWindows(server: NatsServer): Promise<{ nc: NatsConnection; jsm: JetStreamManager }> {
  const nc = await connectTo(server);
  const jsm = await withTopology(nc);
  const si = await jsm.streams.info("ORDERS");
  await jsm.streams.update("ORDERS", { ...si.config, duplicate_window: nanos(DUPLICATE_WINDOW_MS) });
  const ci = await jsm.consumers.info("ORDERS", "NEW");
  await jsm.consumers.update("ORDERS", "NEW", {
    ack_wait: nanos(ACK_WAIT_MS),
    max_deliver: ci.config.max_deliver,
  });
  return { nc, jsm };
}

/**
 * What a processor killed between its PubAck and its ack leaves behind: order `stored` pulled,
 * its output stored, its input never acked; order `lost` pulled and neither. Then waits until the
 * duplicate window has passed for both, so dedupe can no longer absorb a second output.
 */
async function lostAcks(nc: NatsConnection, stored: string, lost: string): Promise<void> {
  const js = jetstream(nc);
  await js.publish("ORDERS.received", stored);
  await js.publish("ORDERS.received", lost);
  const consumer = await js.consumers.get("ORDERS", "NEW");
  const pulled = await consumer.fetch({ max_messages: 2, expires: 2_000 });
  const got: string[] = [];
  for await (const m of pulled) {
    got.push(m.string());
    if (got.length === 2) break;
  }
  expect(got).toEqual([stored, lost]);
  await js.publish("ORDERS.processed", `${stored},processed`, { msgID: `${stored}:processed` });
  const outputAt = Date.now();
  await waitFor("the duplicate window to pass", () => Date.now() - outputAt > DUPLICATE_WINDOW_MS + 500, {
    timeoutMs: 10_000,
  });
}

function worker(nc: NatsConnection, lateRedeliveries: LateRedeliveries, withLedger = true) {
  const w = new StageWorker(
    nc,
    processorStage(t),
    {
      duplicateWindowMs: DUPLICATE_WINDOW_MS,
      ackWaitMs: ACK_WAIT_MS,
      lateRedeliveries,
      lateHoldMs: 300,
      retryBaseMs: 50,
    },
    withLedger ? { outputLedger: new IndexOutputLedger(nc, t) } : {},
  );
  onTestFinished(() => w.stop());
  return w;
}

async function indexer(server: NatsServer): Promise<OrderIndexer> {
  const i = new OrderIndexer(await connectTo(server, "indexer"), t, { indexDir: ":memory:" });
  await i.start();
  await i.ready();
  onTestFinished(() => i.stop());
  return i;
}

describe("exactly once past the duplicate window", () => {
  it("a late redelivery whose output is stored is acked without a second one; one without is processed", async () => {
    const server = await startServer();
    const { nc, jsm } = await shortWindows(server);
    await indexer(server);
    await lostAcks(nc, "A1", "B1");
    const w = worker(await connectTo(server, "processor"), LateRedeliveries.Verify);
    await w.start();
    await waitSettled(jsm, "NEW");
    const outputs = await readSubject(nc, "ORDERS.processed");
    expect(outputs.sort()).toEqual(["A1,processed", "B1,processed"]);
    expect(w.stats()).toMatchObject({ alreadyStored: 1, processed: 1 });
  });

  it("control: with --late-redeliveries publish the same lost ack stores a second output", async () => {
    const server = await startServer();
    const { nc, jsm } = await shortWindows(server);
    await lostAcks(nc, "A1", "B1");
    const w = worker(await connectTo(server, "processor"), LateRedeliveries.Publish);
    await w.start();
    await waitSettled(jsm, "NEW");
    const outputs = await readSubject(nc, "ORDERS.processed");
    expect(outputs.sort()).toEqual(["A1,processed", "A1,processed", "B1,processed"]);
  });

  it("with no index to ask, late redeliveries are held (no output) until one answers", async () => {
    const server = await startServer();
    const { nc, jsm } = await shortWindows(server);
    await lostAcks(nc, "A1", "B1");
    const w = worker(await connectTo(server, "processor"), LateRedeliveries.Verify);
    await w.start();
    await waitFor("both held at least twice", () => w.stats().lateHeld >= 4);
    expect((await subjectCounts(jsm))["ORDERS.processed"]).toBe(1);
    expect(
      (await jsm.consumers.info("ORDERS", "NEW")).num_pending +
        (await jsm.consumers.info("ORDERS", "NEW")).num_ack_pending,
    ).toBe(2);

    await indexer(server);
    await waitSettled(jsm, "NEW");
    const outputs = await readSubject(nc, "ORDERS.processed");
    expect(outputs.sort()).toEqual(["A1,processed", "B1,processed"]);
    expect(w.stats()).toMatchObject({ alreadyStored: 1, processed: 1 });
  });
});

describe("a library worker with no order index meets a late redelivery", () => {
  it("with lateRedeliveries publish (createStageWorker), it publishes: never held", async () => {
    const server = await startServer();
    const { nc, jsm } = await shortWindows(server);
    await lostAcks(nc, "A1", "B1");
    const w = await createStageWorker(await connectTo(server, "processor"), processorStage(t), {
      lateRedeliveries: LateRedeliveries.Publish,
    });
    onTestFinished(() => w.stop());
    expect(w.options.duplicateWindowMs).toBe(DUPLICATE_WINDOW_MS);
    await w.start();
    await waitSettled(jsm, "NEW");
    expect((await readSubject(nc, "ORDERS.processed")).sort()).toEqual([
      "A1,processed",
      "A1,processed",
      "B1,processed",
    ]);
    expect(w.stats().lateHeld).toBe(0);
  });

  it("with lateRedeliveries verify, it gives the order back and stops with one line: never held", async () => {
    const server = await startServer();
    const { nc } = await shortWindows(server);
    await lostAcks(nc, "A1", "B1");
    const w = worker(await connectTo(server, "processor"), LateRedeliveries.Verify, false);
    const fatal = new Promise<Error>((resolve) => w.once("fatal", resolve));
    const stopped = new Promise<void>((resolve) => w.once("stopped", () => resolve()));
    await w.start();
    const err = await fatal;
    expect(err).toBeInstanceOf(LateRedeliveryError);
    const line = (err as LateRedeliveryError).oneLine();
    expect(line).not.toContain("\n");
    expect(line).toMatch(/processor cannot verify redeliveries past the duplicate window: order [AB]1/);
    expect(line).toContain("start `orderflow indexer`");
    expect(line).toContain("lateRedeliveries publish");
    await stopped;
    expect(w.running).toBe(false);
    expect(w.stats()).toMatchObject({ lateHeld: 0, processed: 0 });
    // No second output for A1; both orders are left for a worker that can verify them.
    expect(await readSubject(nc, "ORDERS.processed")).toEqual(["A1,processed"]);
  });

  it("createStageWorker refuses to start with verify when no index answers, and wires one that does", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    const refused = createStageWorker(nc, processorStage(t));
    await expect(refused).rejects.toBeInstanceOf(LateRedeliveryError);
    await expect(refused).rejects.toThrow("no order index is running");

    await indexer(server);
    const w = await createStageWorker(nc, processorStage(t));
    expect(w.options.lateRedeliveries).toBe(LateRedeliveries.Verify);
  });
});
