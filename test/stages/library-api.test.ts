import { describe, expect, it } from "vitest";
import * as orderflow from "../../src/index.js";
import { connectTo, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

describe("library API", () => {
  it("runs a user-defined stage from the package entry point, as docs/library.md shows", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const pricing = orderflow.defineStage({
      name: "pricing",
      consumer: "NEW",
      outputSubject: "ORDERS.processed",
      outputStage: "processed",
      parse: orderflow.parseOrderNo,
      handle: async (order) => {
        if (order.orderNo === "unknown") throw new orderflow.InvalidOrderError("unknown-sku", "no price");
        return `${order.orderNo},processed`;
      },
    });
    // No order index runs here: the worker is told what to do with a redelivery past the
    // duplicate window (publish it) rather than refusing to start.
    const worker = await orderflow.createStageWorker(nc, pricing, {
      lateRedeliveries: orderflow.LateRedeliveries.Publish,
    });
    const kinds: string[] = [];
    worker.on("outcome", (o) => kinds.push(o.kind));
    await worker.start();
    const js = (await import("@nats-io/jetstream")).jetstream(nc);
    await js.publish("ORDERS.received", "42");
    await js.publish("ORDERS.received", "unknown");
    await waitFor("both handled", async () => {
      const c = await subjectCounts(jsm);
      return c["ORDERS.processed"] === 1 && c["ORDERS.failed"] === 1;
    });
    await worker.stop();
    expect(kinds.sort()).toEqual(["dead-lettered", "done"]);
    const m = await jsm.streams.getMessage("ORDERS", { last_by_subj: "ORDERS.failed" });
    expect(m?.header.get(orderflow.DeadLetterHeader.Reason)).toBe("unknown-sku");
  });
});
