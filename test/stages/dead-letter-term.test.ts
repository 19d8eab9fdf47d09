import { jetstream } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import * as orderflow from "../../src/index.js";
import { connectTo, subjectCounts, waitSettled, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { testServerFeatures } from "../helpers/server-version.js";
import { waitFor } from "../helpers/wait.js";

describe("a dead-lettered input is terminated", () => {
  it("the server's MSG_TERMINATED advisory names it (with the dead-letter reason on 2.10.4+), and it is never delivered again", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const advisories: Array<{ stream_seq: number; reason?: string }> = [];
    nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.ORDERS.NEW", {
      callback: (_err, m) => {
        advisories.push(m.json());
      },
    });
    await nc.flush();
    const stage = orderflow.defineStage({
      name: "processor",
      consumer: "NEW",
      outputSubject: "ORDERS.processed",
      outputStage: "processed",
      parse: orderflow.parseOrderNo,
      handle: (order) => {
        if (order.orderNo.endsWith("7")) throw new orderflow.InvalidOrderError("sku-unknown", "no such sku");
        return `${order.orderNo},processed`;
      },
    });
    const worker = await orderflow.createStageWorker(nc, stage, {
      lateRedeliveries: orderflow.LateRedeliveries.Publish,
    });
    await worker.start();
    const js = jetstream(nc);
    const acks = await Promise.all(["1", "7", "2"].map((n) => js.publish("ORDERS.received", n)));
    const seven = acks[1]?.seq as number;
    await waitFor("every order handled", async () => {
      const c = await subjectCounts(jsm);
      return c["ORDERS.processed"] === 2 && c["ORDERS.failed"] === 1;
    });
    await waitFor("the advisory", () => advisories.length === 1);
    await waitSettled(jsm, "NEW");
    await worker.stop();

    expect(advisories[0]?.stream_seq).toBe(seven);
    if (testServerFeatures().termReason) expect(advisories[0]?.reason).toBe("sku-unknown");
    else expect(advisories[0]?.reason ?? "").toBe("");
    // Terminated once, never redelivered (on 2.9 a `+TERM <reason>` would have been redelivered).
    const info = await jsm.consumers.info("ORDERS", "NEW");
    expect(info.num_redelivered).toBe(0);
    expect(info.num_ack_pending).toBe(0);
    expect(info.delivered.stream_seq).toBe(3);
  });
});
