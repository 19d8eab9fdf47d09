import { jetstream } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { describe, expect, it, onTestFinished } from "vitest";
import * as orderflow from "../../src/index.js";
import { connectTo, readSubject, subjectCounts, waitSettled, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

type Handle = orderflow.StageDefinition["handle"];

/** A stage on NEW whose handler is `handle`, run by the package's createStageWorker. */
async function runStage(handle: Handle, options: orderflow.CreateStageWorkerOptions = {}) {
  const server = await startServer();
  const nc = await connectTo(server);
  const jsm = await withTopology(nc);
  const stage = orderflow.defineStage({
    name: "pricing",
    consumer: "NEW",
    outputSubject: "ORDERS.processed",
    outputStage: "processed",
    parse: orderflow.parseOrderNo,
    handle,
  });
  const worker = await orderflow.createStageWorker(nc, stage, {
    lateRedeliveries: orderflow.LateRedeliveries.Publish,
    ...options,
  });
  onTestFinished(() => worker.stop());
  return { server, nc, jsm, worker };
}

/** What a handler saw of its arguments. */
interface Seen {
  orderFrozen: boolean;
  orderKeys: string[];
  key: string | undefined;
  attempt: number | undefined;
  aborted: boolean | undefined;
}

function look(order: orderflow.OrderInput, ctx: orderflow.HandlerContext | undefined): Seen {
  return {
    orderFrozen: Object.isFrozen(order),
    orderKeys: Object.keys(order).sort(),
    key: ctx?.idempotencyKey,
    attempt: ctx?.attempt,
    aborted: ctx?.signal.aborted,
  };
}

const PLAIN_ORDER_KEYS = ["attempt", "data", "deliveryCount", "orderNo", "seq"];

describe("every handler gets a context and a plain order", () => {
  it("a rest-parameter handler `(...args) =>` gets a context", async () => {
    const seen: Seen[] = [];
    const handle: Handle = (...args: unknown[]) => {
      seen.push(look(args[0] as orderflow.OrderInput, args[1] as orderflow.HandlerContext | undefined));
      return `${(args[0] as orderflow.OrderInput).orderNo},processed`;
    };
    expect(handle.length).toBe(0);
    const { nc, jsm, worker } = await runStage(handle);
    await worker.start();
    await jetstream(nc).publish("ORDERS.received", "41");
    await waitSettled(jsm, "NEW");
    expect(seen).toEqual([
      { orderFrozen: true, orderKeys: PLAIN_ORDER_KEYS, key: "41:processed", attempt: 1, aborted: false },
    ]);
  });

  it("a wrapped handler (a tracing helper) and one with a default parameter get a context", async () => {
    const seen: Seen[] = [];
    const traced =
      <A extends unknown[], R>(fn: (...a: A) => R) =>
      (...a: A): R =>
        fn(...a);
    const inner = (order: orderflow.OrderInput, ctx?: orderflow.HandlerContext) => {
      seen.push(look(order, ctx));
      ctx?.setHeader("x-traced", "yes");
      return `${order.orderNo},processed`;
    };
    const { nc, jsm, worker } = await runStage(traced(inner));
    await worker.start();
    await jetstream(nc).publish("ORDERS.received", "42");
    await waitSettled(jsm, "NEW");
    expect(seen).toEqual([
      { orderFrozen: true, orderKeys: PLAIN_ORDER_KEYS, key: "42:processed", attempt: 1, aborted: false },
    ]);
    const m = await jsm.streams.getMessage("ORDERS", { last_by_subj: "ORDERS.processed" });
    expect(m?.header.get("x-traced")).toBe("yes");

    const withDefault = (
      order: orderflow.OrderInput,
      ctx: orderflow.HandlerContext | undefined = undefined,
    ) => {
      seen.push(look(order, ctx));
      return `${order.orderNo},processed`;
    };
    expect(withDefault.length).toBe(1);
    const second = await runStage(withDefault);
    await second.worker.start();
    await jetstream(second.nc).publish("ORDERS.received", "43");
    await waitSettled(second.jsm, "NEW");
    expect(seen[1]).toMatchObject({ key: "43:processed", attempt: 1, orderFrozen: true });
  });

  it("the order cannot be changed by the handler, and carries none of the worker's bookkeeping", async () => {
    const problems: string[] = [];
    const { nc, jsm, worker } = await runStage((order) => {
      try {
        (order as { orderNo: string }).orderNo = "changed";
      } catch (err) {
        problems.push((err as Error).name);
      }
      problems.push(...["reply", "settled", "timer", "ctx"].filter((k) => k in order));
      return `${order.orderNo},processed`;
    });
    await worker.start();
    await jetstream(nc).publish("ORDERS.received", "44");
    await waitSettled(jsm, "NEW");
    // Modules are strict: writing a frozen property throws a TypeError.
    expect(problems).toEqual(["TypeError"]);
    expect(await readSubject(nc, "ORDERS.processed")).toEqual(["44,processed"]);
  });
});

describe("createStageWorker reads the server's settings", () => {
  it("picks up a consumer's 5 s ack wait: a handler running past it gets +WPI in time and is invoked once", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    await jsm.consumers.update("ORDERS", "NEW", { ack_wait: nanos(5_000) });
    // The worker's acks, as the server receives them.
    const replies: string[] = [];
    nc.subscribe("$JS.ACK.ORDERS.NEW.>", {
      callback: (_e, m) => {
        replies.push(m.string());
      },
    });
    let invoked = 0;
    let finish: () => void = () => undefined;
    const stage = orderflow.defineStage({
      name: "slow",
      consumer: "NEW",
      outputSubject: "ORDERS.processed",
      outputStage: "processed",
      parse: orderflow.parseOrderNo,
      handle: async (order) => {
        invoked++;
        await new Promise<void>((resolve) => {
          finish = resolve;
        });
        return `${order.orderNo},processed`;
      },
    });
    const workerNc = await connectTo(server, "worker");
    const worker = await orderflow.createStageWorker(workerNc, stage, {
      lateRedeliveries: orderflow.LateRedeliveries.Publish,
    });
    onTestFinished(() => worker.stop());
    expect(worker.options.ackWaitMs).toBe(5_000);
    await worker.start();
    await jetstream(nc).publish("ORDERS.received", "7");
    await waitFor("the handler to start", () => invoked === 1);
    // Three keep-alives span more than the ack wait (one every third of it): without them the
    // server would have redelivered the order by the third.
    await waitFor("three +WPI", () => replies.filter((r) => r === "+WPI").length >= 3, { timeoutMs: 15_000 });
    finish();
    await waitFor("processed", async () => (await subjectCounts(jsm))["ORDERS.processed"] === 1);
    await waitSettled(jsm, "NEW");
    expect(invoked).toBe(1);
    expect((await jsm.consumers.info("ORDERS", "NEW")).num_redelivered).toBe(0);
    expect(worker.stats().redelivered).toBe(0);
  });
});
