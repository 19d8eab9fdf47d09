import { headers } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { OrderIndex } from "../../src/orders/order-index.js";
import { orderState, type TimelineEntry } from "../../src/orders/timeline.js";
import { orderKeyOf, SEED_STEPS, stageOfSubject } from "../../src/stages/order-key.js";
import { stepsOf } from "../../src/topology/spec.js";
import { shopTopology } from "../helpers/pipelines.js";

const bytes = (s: string) => new TextEncoder().encode(s);
const SHOP = ["received", "validated", "reserved", "paid", "shipped", "completed"];

function entry(stage: string, seq: number, replayOf?: number): TimelineEntry {
  return { stage, subject: `ORDERS.${stage}`, seq, time: new Date(seq), payload: "", replayOf };
}

describe("order keys of a declared pipeline", () => {
  it("the shop's steps are what its pipeline file declares, the seed's stay the default", async () => {
    expect(stepsOf(await shopTopology())).toEqual(SHOP);
    expect(SEED_STEPS).toEqual(["received", "processed", "completed"]);
  });

  it("every declared step subject is its step, anything else `other`", () => {
    for (const step of SHOP) expect(stageOfSubject(`ORDERS.${step}`, "ORDERS", SHOP)).toBe(step);
    expect(stageOfSubject("ORDERS.failed", "ORDERS", SHOP)).toBe("failed");
    expect(stageOfSubject("ORDERS.processed", "ORDERS", SHOP)).toBe("other");
    expect(stageOfSubject("ORDERS.replayed", "ORDERS", SHOP)).toBe("other");
    expect(stageOfSubject("ORDERSX.paid", "ORDERS", SHOP)).toBe("other");
    expect(stageOfSubject("ORDERS.", "ORDERS", SHOP)).toBe("other");
    // The seed's steps when none are given: a shop step is no seed step.
    expect(stageOfSubject("ORDERS.paid", "ORDERS")).toBe("other");
  });

  it("the intake payload is the order number, a later step's `<orderNo>,<step>`", () => {
    expect(orderKeyOf("received", bytes("o-1"), undefined, SHOP)).toBe("o-1");
    expect(orderKeyOf("received", bytes("a,b"), undefined, SHOP)).toBe("a,b");
    for (const step of SHOP.slice(1)) {
      expect(orderKeyOf(step, bytes(`o-1,${step}`), undefined, SHOP)).toBe("o-1");
    }
    // A pipeline whose intake is not `received`: its intake payload is bare, `received` means nothing.
    const other = ["in", "mid", "out"];
    expect(orderKeyOf("in", bytes("x,y"), undefined, other)).toBe("x,y");
    expect(orderKeyOf("mid", bytes("x,mid"), undefined, other)).toBe("x");
  });

  it("a dead letter at step three is the order of its source input, header or not", () => {
    const fromSource = headers();
    fromSource.set("Orderflow-Source-Subject", "ORDERS.reserved");
    expect(orderKeyOf("failed", bytes("o-9,reserved"), fromSource, SHOP)).toBe("o-9");
    // Without the pipeline's steps `reserved` is no step: the payload is read as an intake one.
    expect(orderKeyOf("failed", bytes("o-9,reserved"), fromSource)).toBe("o-9,reserved");
    const withNo = headers();
    withNo.set("Orderflow-Order-No", "o-9");
    withNo.set("Orderflow-Source-Subject", "ORDERS.reserved");
    expect(orderKeyOf("failed", bytes("o-9,reserved"), withNo, SHOP)).toBe("o-9");
  });
});

describe("an order's state in a declared pipeline", () => {
  it("is the furthest step reached, failed, or what came after a replay", () => {
    expect(orderState([entry("received", 1)], SHOP)).toBe("received");
    expect(orderState([entry("received", 1), entry("validated", 2), entry("reserved", 3)], SHOP)).toBe(
      "reserved",
    );
    const failedAtThree = [
      entry("received", 1),
      entry("validated", 2),
      entry("reserved", 3),
      entry("failed", 4),
    ];
    expect(orderState(failedAtThree, SHOP)).toBe("failed");
    const replayed = [...failedAtThree, entry("reserved", 5, 4), entry("paid", 6)];
    expect(orderState(replayed, SHOP)).toBe("paid");
    expect(orderState([...replayed, entry("shipped", 7), entry("completed", 8)], SHOP)).toBe("completed");
    // The seed's states are unchanged when no steps are given.
    expect(orderState([entry("received", 1), entry("processed", 2)])).toBe("processed");
    expect(orderState([entry("paid", 1)])).toBe("unknown");
  });
});

describe("OrderIndex of a declared pipeline", () => {
  it("keeps a column per step and says each message's step", () => {
    const index = new OrderIndex(undefined, SHOP);
    for (const [i, step] of SHOP.entries()) index.add("o-1", step, i + 1);
    index.add("o-1", "failed", 10);
    index.add("o-1", "reserved", 11);
    index.add("o-1", "processed", 12); // no step of this pipeline: not recorded
    expect(index.messagesOf("o-1").map((m) => `${m.seq}:${m.stage}`)).toEqual([
      "1:received",
      "2:validated",
      "3:reserved",
      "4:paid",
      "5:shipped",
      "6:completed",
      "10:failed",
      "11:reserved",
    ]);
  });
});
