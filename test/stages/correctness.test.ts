import { connect as netConnect } from "node:net";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { describe, expect, it, onTestFinished } from "vitest";
import { callbackErrorCounts } from "../../src/common/callback-guard.js";
import { MonitorFeed } from "../../src/monitor/monitor-feed.js";
import type { OrderEvent } from "../../src/monitor/order-event.js";
import { DeadLetterHeader } from "../../src/stages/dead-letter.js";
import { parseOrderNo } from "../../src/stages/payload.js";
import { PubAckWindow } from "../../src/stages/pub-ack-window.js";
import { defineStage, dispatcherStage, processorStage } from "../../src/stages/stage.js";
import { StageWorker } from "../../src/stages/stage-worker.js";
import { DEFAULT_TOPOLOGY } from "../../src/topology/spec.js";
import {
  connectTo,
  publishOrders,
  readStored,
  readSubject,
  subjectCounts,
  withTopology,
} from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

const t = { ...DEFAULT_TOPOLOGY };

function countReconnects(nc: NatsConnection): { n: number } {
  const seen = { n: 0 };
  void (async () => {
    for await (const s of nc.status()) if (s.type === "reconnect" || s.type === "disconnect") seen.n++;
  })();
  return seen;
}

/** Publishes a raw HPUB (what the nats CLI or Go can send, the JS client cannot) on a socket of its own. */
function rawHpub(port: number, subject: string, headerBlock: string, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, "127.0.0.1");
    const h = Buffer.from(headerBlock);
    const b = Buffer.from(body);
    s.once("error", reject);
    s.once("data", () => {
      s.write('CONNECT {"verbose":false,"headers":true,"protocol":1}\r\n');
      s.write(`HPUB ${subject} ${h.length} ${h.length + b.length}\r\n`);
      s.write(Buffer.concat([h, b, Buffer.from("\r\nPING\r\n")]));
    });
    s.on("data", (d) => {
      if (d.toString().includes("PONG")) {
        s.end();
        resolve();
      }
    });
  });
}

describe("every input ends as an output or a dead letter", () => {
  it("42, ' 42' and a BOM-prefixed 42 are three orders and complete three times", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const workers = [new StageWorker(nc, processorStage(t)), new StageWorker(nc, dispatcherStage(t))];
    for (const w of workers) await w.start();
    const js = jetstream(nc);
    for (const o of ["42", " 42", "\uFEFF42"]) await js.publish("ORDERS.received", o);
    await waitFor("three completions", async () => (await subjectCounts(jsm))["ORDERS.completed"] === 3);
    for (const w of workers) await w.stop();
    expect((await readSubject(nc, "ORDERS.completed")).sort()).toEqual(
      [" 42,completed", "42,completed", "\uFEFF42,completed"].sort(),
    );
    expect((await subjectCounts(jsm))["ORDERS.failed"]).toBeUndefined();
  });

  it("an order of max_payload - 1 bytes is dead-lettered, cut to fit, and the 100 after it complete without a reconnect", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const workerNc = await connectTo(server, "worker");
    const reconnects = countReconnects(workerNc);
    const worker = new StageWorker(workerNc, processorStage(t));
    await worker.start();
    const max = nc.info?.max_payload ?? 0;
    expect(max).toBeGreaterThan(0);
    await jetstream(nc).publish("ORDERS.received", new Uint8Array(max - 1).fill(0x39));
    await publishOrders(nc, 100);
    await waitFor("100 processed and one dead letter", async () => {
      const c = await subjectCounts(jsm);
      return c["ORDERS.processed"] === 100 && c["ORDERS.failed"] === 1;
    });
    await worker.stop();
    expect(reconnects.n).toBe(0);
    const [dead] = await readStored(nc, "ORDERS.failed");
    expect(dead?.headers.get(DeadLetterHeader.Reason)).toBe("too-long");
    expect(dead?.headers.get(DeadLetterHeader.Truncated)).toBe("true");
    expect(dead?.headers.get(DeadLetterHeader.PayloadBytes)).toBe(String(max - 1));
    expect(dead?.headers.get(DeadLetterHeader.SourceSeq)).toBe("1");
    expect(dead?.data.length).toBeLessThan(max - 1);
    expect((await jsm.consumers.info("ORDERS", "NEW")).num_ack_pending).toBe(0);
  });

  it("an async handler's result that cannot be published is dead-lettered or retried, never an unhandled rejection", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const rejections: unknown[] = [];
    const onRejection = (r: unknown) => rejections.push(r);
    process.on("unhandledRejection", onRejection);
    const max = nc.info?.max_payload ?? 0;
    const stage = defineStage({
      name: "awkward",
      consumer: "NEW",
      outputSubject: "ORDERS.processed",
      outputStage: "processed",
      parse: parseOrderNo,
      handle: async (order) => {
        if (order.orderNo === "huge") return new Uint8Array(max + 10);
        if (order.orderNo === "number") return 42 as unknown as string;
        return `${order.orderNo},processed`;
      },
    });
    const worker = new StageWorker(nc, stage, { maxAttempts: 2, retryBaseMs: 20 });
    await worker.start();
    const js = jetstream(nc);
    for (const o of ["huge", "number", "fine"]) await js.publish("ORDERS.received", o);
    await waitFor("two dead letters and one output", async () => {
      const c = await subjectCounts(jsm);
      return c["ORDERS.processed"] === 1 && c["ORDERS.failed"] === 2;
    });
    await worker.stop();
    process.off("unhandledRejection", onRejection);
    expect(rejections).toEqual([]);
    const reasons = (await readStored(nc, "ORDERS.failed")).map((m) =>
      m.headers.get(DeadLetterHeader.Reason),
    );
    expect(reasons.sort()).toEqual(["max-attempts", "output-too-large"]);
  });

  it("a handler still running when the connection closes after stop() gives up leaves no unhandled rejection", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    const rejections: unknown[] = [];
    const onRejection = (r: unknown) => rejections.push(r);
    process.on("unhandledRejection", onRejection);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const workerNc = await connectTo(server, "worker");
    const stage = defineStage({
      ...processorStage(t),
      name: "slow",
      handle: async (order) => {
        await gate;
        return `${order.orderNo},processed`;
      },
    });
    const worker = new StageWorker(workerNc, stage, { pullExpiresMs: 200, pubAckTimeoutMs: 200 });
    await worker.start();
    await jetstream(nc).publish("ORDERS.received", "1");
    await waitFor("in flight", () => worker.stats().inFlight === 1);
    await worker.stop();
    await workerNc.close();
    release();
    await waitFor("the late handler's delivery settled", () => worker.stats().inFlight === 0);
    // Node reports an unhandled rejection once the microtasks of the turn that made it have run.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    process.off("unhandledRejection", onRejection);
    expect(rejections).toEqual([]);
    expect(worker.stats().inFlight).toBe(0);
  });

  it("a reply that is not a PubAck (a core responder on the output subject) does not count as stored", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const responder = nc.subscribe("CORE.out", {
      callback: (_e, m) => {
        m.respond("+OK");
      },
    });
    await nc.flush();
    const stage = defineStage({ ...processorStage(t), name: "to-core", outputSubject: "CORE.out" });
    const workerNc = await connectTo(server, "worker");
    const worker = new StageWorker(workerNc, stage, { infraRetryMs: 100 });
    await worker.start();
    await jetstream(nc).publish("ORDERS.received", "1");
    await waitFor("infra failures", () => worker.stats().infraErrors >= 2);
    await worker.stop();
    responder.unsubscribe();
    expect(worker.stats().processed).toBe(0);
    const ci = await jsm.consumers.info("ORDERS", "NEW");
    expect(ci.ack_floor.stream_seq).toBe(0);
  });

  it("the retry budget counts handler failures only: infrastructure redeliveries before a real error do not dead-letter it", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    let calls = 0;
    const stage = defineStage({
      ...processorStage(t),
      name: "late-stream",
      outputSubject: "LATE.out",
      handle: async (order) => {
        calls++;
        // Calls 1-3: the output has no stream yet (no responders: infrastructure). Call 4: a
        // real handler error, after which the stream exists. Call 5 succeeds.
        if (calls === 4) {
          await jsm.streams.add({ name: "LATE", subjects: ["LATE.out"] });
          throw new Error("payment service hiccup");
        }
        return `${order.orderNo},processed`;
      },
    });
    const worker = new StageWorker(nc, stage, { maxAttempts: 2, retryBaseMs: 20, infraRetryMs: 50 });
    await worker.start();
    await jetstream(nc).publish("ORDERS.received", "1");
    await waitFor("stored", () => worker.stats().processed === 1);
    await worker.stop();
    expect(calls).toBe(5);
    expect(worker.stats()).toMatchObject({ processed: 1, deadLettered: 0, retried: 1, infraErrors: 3 });
    expect((await jsm.streams.info("LATE")).state.messages).toBe(1);
  });
});

describe("no callback can close a reader", () => {
  it("a throwing outcome listener is logged and counted; every order still completes", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const worker = new StageWorker(nc, processorStage(t));
    worker.on("outcome", () => {
      throw new Error("listener bug");
    });
    await worker.start();
    await publishOrders(nc, 200);
    await waitFor("200 processed", async () => (await subjectCounts(jsm))["ORDERS.processed"] === 200);
    await worker.stop();
    expect(callbackErrorCounts().get("processor outcome listener")).toBe(200);
  });

  it("a PubAck inbox the server refuses reports an error instead of throwing in the client", async () => {
    const server = await startServer({
      extraConfig: `authorization { users: [ { user: w, password: w, permissions: { subscribe: { deny: ["_DENIED.>"] } } } ] }`,
    });
    const nc = await connect({ servers: server.url, user: "w", pass: "w" });
    onTestFinished(() => nc.close());
    const problems: Error[] = [];
    const window = new PubAckWindow<number>(
      nc,
      { pubAcked: () => undefined, pubFailed: () => undefined, inboxFailed: (e) => problems.push(e) },
      { timeoutMs: 1_000, inboxPrefix: "_DENIED" },
    );
    window.start();
    await waitFor("the refusal", () => problems.length > 0);
    // The connection still reads: a request on it is answered.
    nc.subscribe("ping", {
      callback: (_e, m) => {
        m.respond("pong");
      },
    });
    expect((await nc.request("ping", "", { timeout: 2_000 })).string()).toBe("pong");
    window.stop();
  });

  it("the monitor feed skips an event whose header the JS decoder rejects, and goes on", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    const feed = new MonitorFeed(nc, t);
    const seen: OrderEvent[] = [];
    feed.on((e) => seen.push(e));
    await feed.start();
    await rawHpub(server.port, "ORDERS.received", "NATS/1.0\r\nBad Key: x\r\n\r\n", "7");
    await jetstream(nc).publish("ORDERS.received", "8");
    await waitFor("the next event", () => seen.some((e) => e.orderNo === "8"));
    expect(feed.stats().unreadable).toBe(1);
    await feed.stop();
    // The same connection still answers requests.
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info("ORDERS")).state.messages).toBe(2);
  });
});

describe("the bench's completion watcher", () => {
  it("reports a throwing completion callback as the run's error instead of stalling the connection", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const { CompletionWatcher } = await import("../../src/bench/completion-watcher.js");
    const watcher = new CompletionWatcher(nc, jsm, "ORDERS", "ORDERS.completed");
    watcher.onCompleted = () => {
      throw new Error("latency bookkeeping bug");
    };
    await watcher.start();
    await jetstream(nc).publish("ORDERS.completed", "1,completed");
    await expect(watcher.waitFor(2, 10_000)).rejects.toThrow("latency bookkeeping bug");
    // The connection still reads.
    nc.subscribe("ping", {
      callback: (_e, m) => {
        m.respond("pong");
      },
    });
    expect((await nc.request("ping", "", { timeout: 2_000 })).string()).toBe("pong");
    await watcher.stop();
  });
});
