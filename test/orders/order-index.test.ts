import { headers } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { isInboxReply } from "../../src/orders/index-protocol.js";
import { orderIndexerOptions, orderLookupOptions } from "../../src/orders/lookup-options.js";
import { OrderIndex } from "../../src/orders/order-index.js";
import { orderKeyOf, stageOfSubject } from "../../src/stages/order-key.js";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("OrderIndex", () => {
  it("returns each order's sequences ascending, across stages and growth", () => {
    const index = new OrderIndex();
    for (let i = 1; i <= 5000; i++) index.add(String(i), "received", i);
    for (let i = 1; i <= 5000; i++) index.add(String(i), "processed", 5000 + i);
    index.add("42", "completed", 20_000);
    expect(index.size).toBe(5000);
    expect(index.messageCount).toBe(10_001);
    expect(index.lookup("42")).toEqual([42, 5042, 20_000]);
    expect(index.lookup("5000")).toEqual([5000, 10_000]);
    expect(index.lookup("5001")).toEqual([]);
  });

  it("goes on past the size of one Map (V8 caps a Map at 2^24 entries): orders in every map are found", () => {
    const index = new OrderIndex(1_000);
    for (let i = 1; i <= 3_500; i++) index.add(String(i), "received", i);
    index.add("1", "completed", 9_001);
    index.add("3500", "completed", 9_002);
    expect(index.size).toBe(3_500);
    expect(index.lookup("1")).toEqual([1, 9_001]);
    expect(index.lookup("2000")).toEqual([2_000]);
    expect(index.lookup("3500")).toEqual([3_500, 9_002]);
    expect(index.lookup("3501")).toEqual([]);
  });

  it("keeps every message of an order that was published more than once on a stage", () => {
    const index = new OrderIndex();
    index.add("7", "received", 3);
    index.add("7", "received", 9);
    index.add("7", "received", 9);
    index.add("7", "failed", 4);
    expect(index.lookup("7")).toEqual([3, 4, 9]);
  });
});

describe("order keys", () => {
  it("read the order number the way operators type it, per stage", () => {
    expect(stageOfSubject("ORDERS.received", "ORDERS")).toBe("received");
    expect(stageOfSubject("ORDERS.shipped", "ORDERS")).toBe("other");
    expect(stageOfSubject("SHOP.failed", "ORDERS")).toBe("other");
    expect(orderKeyOf("received", bytes("100001"))).toBe("100001");
    expect(orderKeyOf("processed", bytes("100001,processed"))).toBe("100001");
    expect(orderKeyOf("completed", bytes("100001,completed"))).toBe("100001");
    // The seed's dispatcher output of a received `a,b` would be `a,completed`: its own key.
    expect(orderKeyOf("completed", bytes("odd"))).toBe("odd");
    expect(orderKeyOf("received", bytes(""))).toBeUndefined();
    expect(orderKeyOf("received", bytes("x".repeat(300)))).toBeUndefined();
    expect(orderKeyOf("other", bytes("1"))).toBeUndefined();
  });

  it("take a dead letter's key from Orderflow-Order-No, else from its original payload", () => {
    const h = headers();
    h.set("Orderflow-Order-No", "100007");
    expect(orderKeyOf("failed", bytes("100007,processed"), h)).toBe("100007");
    const fromProcessed = headers();
    fromProcessed.set("Orderflow-Source-Subject", "ORDERS.processed");
    expect(orderKeyOf("failed", bytes("100008,processed"), fromProcessed)).toBe("100008");
    expect(orderKeyOf("failed", bytes("a,b"))).toBe("a,b");
  });
});

describe("the order index protocol", () => {
  it("answers only reply inboxes, never a subject an answer could act on", () => {
    expect(isInboxReply("_INBOX.NAnDQW8tGahjT2QpXM1mVq.3")).toBe(true);
    expect(isInboxReply("_INBOX_monitor.NAnDQW8tGahjT2QpXM1mVq.3")).toBe(true);
    for (const reply of [
      "$JS.API.STREAM.PURGE.ORDERS",
      "$JS.API.CONSUMER.DELETE.ORDERS.NEW",
      "$JS.ACK.ORDERS.NEW.1.1.1.1700000000000000000.0",
      "ORDERS.received",
      "monitor.ORDERS",
      "_INBOXES.x",
      "_INBOX",
      "x._INBOX.y",
    ]) {
      expect(isInboxReply(reply), reply).toBe(false);
    }
  });

  it("takes the inbox prefix the readers deliver below, and refuses a wildcard", () => {
    expect(orderIndexerOptions({ inboxPrefix: undefined }).inboxPrefix).toBe("_INBOX");
    expect(orderLookupOptions({ inboxPrefix: "_INBOX_monitor" }).inboxPrefix).toBe("_INBOX_monitor");
    expect(() => orderLookupOptions({ inboxPrefix: "_INBOX_monitor.>" })).toThrow(/without wildcards/);
    expect(() => orderIndexerOptions({ inboxPrefix: "" })).toThrow(/without wildcards/);
  });
});
