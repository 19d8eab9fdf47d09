import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { OrderIndexer } from "../../src/orders/order-indexer.js";
import { lookupOrder } from "../../src/orders/order-lookup.js";
import { DEFAULT_TOPOLOGY } from "../../src/topology/spec.js";
import { startCli, waitForLines } from "../helpers/background-cli.js";
import { runCli } from "../helpers/cli.js";
import { connectTo, tempIndexDir, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";

const t = { ...DEFAULT_TOPOLOGY };

/** Publishes `bodies` to `subject` in windows of awaited PubAcks; returns their sequences. */
async function publishAll(nc: NatsConnection, subject: string, bodies: string[]): Promise<number[]> {
  const js = jetstream(nc);
  const seqs: number[] = [];
  for (let i = 0; i < bodies.length; i += 500) {
    const acks = await Promise.all(bodies.slice(i, i + 500).map((b) => js.publish(subject, b)));
    seqs.push(...acks.map((a) => a.seq));
  }
  return seqs;
}

async function deadLetter(nc: NatsConnection, payload: string, orderNo?: string): Promise<number> {
  const h = headers();
  h.set("Orderflow-Stage", "processor");
  h.set("Orderflow-Reason", "max-attempts");
  h.set("Orderflow-Error", "warehouse API timed out");
  h.set("Orderflow-Source-Seq", "1");
  h.set("Orderflow-Source-Subject", "ORDERS.received");
  if (orderNo) h.set("Orderflow-Order-No", orderNo);
  return (await jetstream(nc).publish("ORDERS.failed", payload, { headers: h })).seq;
}

const ORDERS = 50_000;

/** 50k orders received; every 10th processed and completed; order 25000 dead-lettered instead. */
async function bigStream(nc: NatsConnection) {
  const numbers = Array.from({ length: ORDERS }, (_, i) => String(100_000 + i));
  const received = await publishAll(nc, "ORDERS.received", numbers);
  const tenth = numbers.filter((_, i) => i % 10 === 0 && i !== 25_000);
  const processed = await publishAll(
    nc,
    "ORDERS.processed",
    tenth.map((n) => `${n},processed`),
  );
  const completed = await publishAll(
    nc,
    "ORDERS.completed",
    tenth.map((n) => `${n},completed`),
  );
  const failed = await deadLetter(nc, "125000", "125000");
  return { received, processed, completed, failed };
}

describe("order lookup with the order index", () => {
  it("finds any of 50,000 orders from the index, with every stage and its sequence", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    const seqs = await bigStream(nc);

    const indexer = new OrderIndexer(await connectTo(server, "indexer"), t, { indexDir: tempIndexDir() });
    await indexer.start();
    await indexer.ready();
    expect(indexer.stats()).toMatchObject({
      orders: ORDERS,
      caughtUp: true,
      messages: ORDERS + 2 * 5000 - 2 + 1,
    });

    const first = await lookupOrder(nc, t, "100000");
    expect(first.coverage.index?.indexedThrough).toBe(seqs.failed);
    expect(first.coverage.complete).toBe(true);
    expect(first.coverage.scanned).toBeUndefined();
    expect(first.notice).toBeUndefined();
    expect(first.entries.map((e) => [e.stage, e.seq, e.payload])).toEqual([
      ["received", seqs.received[0], "100000"],
      ["processed", seqs.processed[0], "100000,processed"],
      ["completed", seqs.completed[0], "100000,completed"],
    ]);
    expect(first.entries[1]?.time.getTime()).toBeGreaterThanOrEqual(first.entries[0]?.time.getTime() ?? 0);

    const last = await lookupOrder(nc, t, "149990");
    expect(last.entries.map((e) => e.seq)).toEqual([
      seqs.received[49_990],
      seqs.processed[4998],
      seqs.completed[4998],
    ]);
    const middle = await lookupOrder(nc, t, "137777");
    expect(middle.entries.map((e) => e.stage)).toEqual(["received"]);

    const failed = await lookupOrder(nc, t, "125000");
    expect(failed.entries.map((e) => e.stage)).toEqual(["received", "failed"]);
    expect(failed.entries[1]?.deadLetter).toMatchObject({
      reason: "max-attempts",
      error: "warehouse API timed out",
    });

    const none = await lookupOrder(nc, t, "999999");
    expect(none.entries).toEqual([]);
    expect(none.coverage.complete).toBe(true);

    // The CLI asks the same index.
    const cli = await runCli(["order", "-s", server.url, "100000"]);
    expect(cli.code).toBe(0);
    expect(cli.stderr).toBe("");
    const lines = cli.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^order 100000: completed \(3 events in \d+(ms|\.\d{3}s)\)$/);
    expect(lines[1]).toMatch(
      new RegExp(`^  \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3}  received +seq ${seqs.received[0]}$`),
    );
    expect(lines[2]).toMatch(
      new RegExp(` processed +seq ${seqs.processed[0]} +\\+\\d+(ms|\\.\\d{3}s|m\\d\\ds)$`),
    );
    expect(lines[3]).toMatch(new RegExp(` completed +seq ${seqs.completed[0]} +\\+`));
    expect(lines[4]).toBe(`searched ORDERS: order index through seq ${seqs.failed.toLocaleString("en-US")}`);

    const failedCli = await runCli(["order", "-s", server.url, "125000"]);
    expect(failedCli.stdout).toMatch(/^order 125000: failed/);
    expect(failedCli.stdout).toMatch(
      / failed +seq \d+ +\+\S+ +max-attempts: warehouse API timed out \(processor, input seq 1\); payload "125000"$/m,
    );

    const missing = await runCli(["order", "-s", server.url, "999999"]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe("");
    expect(missing.stderr.trim()).toMatch(
      /^orderflow: order "999999" not found \(searched ORDERS: order index through seq/,
    );

    await indexer.stop();
    expect((await (await jetstreamManager(nc)).streams.info("ORDERS")).state.consumer_count).toBe(3);
  });

  it("follows new messages: an order published just before the lookup is in the answer", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    const indexer = new OrderIndexer(await connectTo(server, "indexer"), t, { indexDir: tempIndexDir() });
    await indexer.start();
    const js = jetstream(nc);
    for (let i = 0; i < 20; i++) {
      const order = `fresh-${i}`;
      const ack = await js.publish("ORDERS.received", order);
      const found = await lookupOrder(nc, t, order);
      expect(found.entries.map((e) => e.seq)).toEqual([ack.seq]);
      expect(found.coverage.complete).toBe(true);
    }
    await indexer.stop();
  });

  it("lookups work with two `orderflow indexer` processes running, and both stop cleanly on Ctrl-C", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    await publishAll(nc, "ORDERS.received", ["1", "2", "3"]);
    const a = startCli(["indexer", "-s", server.url]);
    const b = startCli(["indexer", "-s", server.url]);
    await waitForLines(a, 1, "indexer a ready");
    await waitForLines(b, 1, "indexer b ready");
    expect(a.lines()[0]).toBe(
      "order index ready: 3 orders from 3 messages (through seq 3), answering on orderflow.index.lookup",
    );
    for (let i = 0; i < 10; i++) {
      const r = await lookupOrder(nc, t, "3", { scanLast: 0 });
      expect(r.entries.map((e) => e.seq)).toEqual([3]);
    }
    expect(await a.interrupt()).toBe(0);
    expect(await b.interrupt()).toBe(0);
    expect(a.stderr()).toBe("");
  });
});

describe("order lookup without an index", () => {
  it("scans the newest messages, and says when older ones were not searched", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    await publishAll(
      nc,
      "ORDERS.received",
      Array.from({ length: 3000 }, (_, i) => String(i + 1)),
    );
    await publishAll(nc, "ORDERS.processed", ["2999,processed"]);
    const failedSeq = await deadLetter(nc, "a,b");

    const whole = await lookupOrder(nc, t, "2999");
    expect(whole.coverage.indexProblem).toMatch(/no order index is running/);
    expect(whole.coverage.scanned).toEqual({ from: 1, to: failedSeq, messages: failedSeq });
    expect(whole.coverage.complete).toBe(true);
    expect(whole.entries.map((e) => [e.stage, e.seq])).toEqual([
      ["received", 2999],
      ["processed", 3001],
    ]);

    const bounded = await lookupOrder(nc, t, "5", { scanLast: 1000 });
    expect(bounded.entries).toEqual([]);
    expect(bounded.coverage.complete).toBe(false);
    expect(bounded.notice).toBe(
      "answer may be incomplete: no order index is running (start one with `orderflow indexer`); scanned only seq 2,003..3,002, so seq 1..2,002 were not searched",
    );

    const cli = await runCli(["order", "-s", server.url, "a,b", "--scan-last", "10"]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/^order a,b: failed \(1 event\)/);
    expect(cli.stderr.trim()).toBe(
      "orderflow: answer may be incomplete: no order index is running (start one with `orderflow indexer`); scanned only seq 2,993..3,002, so seq 1..2,992 were not searched",
    );
    const json = JSON.parse((await runCli(["order", "-s", server.url, "2999", "--json"])).stdout);
    expect(json).toMatchObject({ orderNo: "2999", found: true, state: "processed" });
    expect(json.entries[1]).toMatchObject({ stage: "processed", seq: 3001 });
    expect(typeof json.entries[1].sincePreviousMs).toBe("number");
    // Scans leave no ephemeral consumer behind: only NEW, DISPATCH and MONITOR remain.
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info("ORDERS")).state.consumer_count).toBe(3);
  });

  it("fails in one line when the stream is missing, and answers 'not found' on an empty stream", async () => {
    const server = await startServer();
    const missing = await runCli(["order", "-s", server.url, "1"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe("orderflow: stream ORDERS not found; run `orderflow setup` first");
    const nc = await connectTo(server);
    await withTopology(nc);
    const empty = await runCli(["order", "-s", server.url, "1"]);
    expect(empty.code).toBe(1);
    expect(empty.stderr.trim()).toMatch(
      /^orderflow: order "1" not found \(searched ORDERS: nothing \(empty stream\)\)/,
    );
  });
});
