import { jetstream } from "@nats-io/jetstream";
import { headers } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { MonitorFeed } from "../../src/monitor/monitor-feed.js";
import type { OrderEvent } from "../../src/monitor/order-event.js";
import { DEFAULT_TOPOLOGY } from "../../src/topology/spec.js";
import { startCli, waitForLines } from "../helpers/background-cli.js";
import { runCli } from "../helpers/cli.js";
import { connectTo, withTopology } from "../helpers/fixtures.js";
import { type NatsServer, startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

const t = { ...DEFAULT_TOPOLOGY };

/** Core subscriptions on `subject`, as the server's monitoring endpoint lists them. */
async function subscriptionsOn(server: NatsServer, subject: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${server.monitorPort}/subsz?subs=1&limit=1000`);
  const body = (await res.json()) as { subscriptions_list?: Array<{ subject: string }> };
  return (body.subscriptions_list ?? []).filter((s) => s.subject === subject).length;
}

/**
 * A small run with every stage: 10 orders received, processed and completed (as the workers would
 * publish them), and one dead letter with the headers a stage worker writes.
 */
async function publishRun(server: NatsServer): Promise<number> {
  const nc = await connectTo(server, "run");
  const js = jetstream(nc);
  for (let i = 1; i <= 10; i++) await js.publish("ORDERS.received", `20000${i}`);
  for (let i = 1; i <= 10; i++) await js.publish("ORDERS.processed", `20000${i},processed`);
  for (let i = 1; i <= 10; i++) await js.publish("ORDERS.completed", `20000${i},completed`);
  const h = headers();
  h.set("Orderflow-Stage", "processor");
  h.set("Orderflow-Reason", "comma");
  h.set("Orderflow-Error", "order number contains a comma at byte 1");
  h.set("Orderflow-Source-Seq", "31");
  h.set("Orderflow-Source-Subject", "ORDERS.received");
  await js.publish("ORDERS.received", "a,b");
  await js.publish("ORDERS.failed", "a,b", { headers: h });
  return 32;
}

describe("orderflow monitor", () => {
  it("two monitors watching the same run both see every event", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);

    const text = startCli(["monitor", "-s", server.url]);
    const json = startCli(["monitor", "-s", server.url, "--json"]);
    await waitFor(
      "both monitors subscribed",
      async () => (await subscriptionsOn(server, "monitor.ORDERS")) === 2,
    );

    const total = await publishRun(server);
    const textLines = await waitForLines(text, total, "every event in the text monitor");
    const jsonLines = await waitForLines(json, total, "every event in the JSON monitor");

    const events = jsonLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(events[0]).toMatchObject({
      stage: "received",
      subject: "ORDERS.received",
      seq: 1,
      payload: "200001",
      orderNo: "200001",
    });
    expect(Date.parse(events[0]?.time as string)).not.toBeNaN();
    expect(events[10]).toMatchObject({ stage: "processed", payload: "200001,processed", orderNo: "200001" });
    expect(events[20]).toMatchObject({ stage: "completed", payload: "200001,completed", orderNo: "200001" });
    expect(events[31]).toMatchObject({
      stage: "failed",
      seq: 32,
      payload: "a,b",
      orderNo: "a,b",
      headers: { "Orderflow-Reason": "comma", "Orderflow-Stage": "processor" },
      deadLetter: { reason: "comma", stage: "processor", sourceSeq: 31 },
    });

    expect(textLines).toHaveLength(total);
    textLines.forEach((line, i) => {
      expect(line).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3}  \\w+ +seq ${i + 1} `));
    });
    expect(textLines[0]).toMatch(/ received +seq 1 +200001$/);
    expect(textLines[31]).toMatch(
      / failed +seq 32 +a,b {2}<- comma: order number contains a comma at byte 1 \(processor, input seq 31\)$/,
    );
    // Piped stdout: no colour codes.
    expect(text.stdout()).not.toContain("\u001b[");

    expect(await text.interrupt()).toBe(0);
    expect(await json.interrupt()).toBe(0);
    expect(text.stderr()).toBe("");
  });

  it("--stage keeps only the chosen stages; --count exits after that many", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    const failed = startCli(["monitor", "-s", server.url, "--stage", "failed,completed", "--count", "3"]);
    const only = startCli(["monitor", "-s", server.url, "--stage", "failed", "--json"]);
    await waitFor(
      "both monitors subscribed",
      async () => (await subscriptionsOn(server, "monitor.ORDERS")) === 2,
    );
    await publishRun(server);
    expect(await failed.exited).toBe(0);
    const lines = failed.lines();
    expect(lines).toHaveLength(3);
    expect(lines.every((l) => / completed +seq 2[1-3] /.test(l))).toBe(true);

    await waitForLines(only, 1, "the dead letter");
    expect(JSON.parse(only.lines()[0] as string)).toMatchObject({ stage: "failed", seq: 32 });
    expect(await only.interrupt()).toBe(0);
  });

  it("says in one line when the stream or the MONITOR consumer is missing, or a stage is unknown", async () => {
    const server = await startServer();
    const noStream = await runCli(["monitor", "-s", server.url]);
    expect(noStream.code).toBe(1);
    expect(noStream.stderr.trim()).toBe("orderflow: stream ORDERS not found; run `orderflow setup` first");

    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    await jsm.consumers.delete("ORDERS", "MONITOR");
    const noConsumer = await runCli(["monitor", "-s", server.url]);
    expect(noConsumer.code).toBe(1);
    expect(noConsumer.stderr.trim()).toBe(
      "orderflow: consumer ORDERS > MONITOR not found; run `orderflow setup` first",
    );

    const badStage = await runCli(["monitor", "-s", server.url, "--stage", "shipped"]);
    expect(badStage.code).toBe(1);
    expect(badStage.stderr.trim()).toBe(
      'orderflow: unknown --stage "shipped"; use one or more of received, processed, completed, failed',
    );
  });
});

describe("MonitorFeed", () => {
  it("yields typed events to every iterator and listener, and ends them on stop()", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    const feed = new MonitorFeed(nc, t);
    await feed.start();
    const fromListener: OrderEvent[] = [];
    feed.on((e) => fromListener.push(e));
    const iterated: OrderEvent[] = [];
    const reader = (async () => {
      for await (const e of feed.events()) iterated.push(e);
    })();

    const total = await publishRun(server);
    await waitFor("every event", () => fromListener.length === total && iterated.length === total);
    const failed = fromListener[total - 1] as OrderEvent;
    expect(failed.stage).toBe("failed");
    expect(failed.time).toBeInstanceOf(Date);
    expect(failed.deadLetter?.reason).toBe("comma");
    expect(fromListener[0]?.headers).toBeUndefined();
    expect(iterated.map((e) => e.seq)).toEqual(fromListener.map((e) => e.seq));
    expect(fromListener[0]?.pending).toBeGreaterThanOrEqual(0);

    await feed.stop();
    await reader;
    expect(feed.stats()).toEqual({
      events: total,
      filtered: 0,
      ignored: 0,
      unreadable: 0,
      backlogSkipped: 0,
      missed: 0,
    });
  });

  it("shares MONITOR's one position: events wait for the next watcher, later joiners see only new ones", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    const total = await publishRun(server);

    const first = new MonitorFeed(nc, t);
    const firstSeen: number[] = [];
    first.on((e) => firstSeen.push(e.seq));
    await first.start();
    await waitFor("the events that waited while nobody watched", () => firstSeen.length === total);

    const later = new MonitorFeed(await connectTo(server, "later"), t);
    const laterSeen: number[] = [];
    later.on((e) => laterSeen.push(e.seq));
    await later.start();
    await jetstream(nc).publish("ORDERS.received", "300001");
    await waitFor("the new event in both", () => firstSeen.length === total + 1 && laterSeen.length === 1);
    expect(laterSeen).toEqual([total + 1]);
    await first.stop();
    await later.stop();
  });

  it("ignores messages on the monitor subject that are not deliveries, and filters stages", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    const feed = new MonitorFeed(nc, t, { stages: ["completed"] });
    await feed.start();
    const seen: OrderEvent[] = [];
    feed.on((e) => seen.push(e));
    nc.publish("monitor.ORDERS", "hand-made");
    const total = await publishRun(server);
    await waitFor("the completed events", () => seen.length === 10);
    await waitFor("all events accounted for", () => {
      const s = feed.stats();
      return s.events + s.filtered === total && s.ignored === 1;
    });
    expect(seen.every((e) => e.stage === "completed")).toBe(true);
    await feed.stop();
  });
});
