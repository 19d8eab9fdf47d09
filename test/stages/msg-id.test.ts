import { headers, MsgHdrsImpl } from "@nats-io/nats-core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { msgIdOf, orderIdKey, orderNoOfIdKey, parseOrderNo } from "../../src/stages/payload.js";

const encoder = new TextEncoder();

/** Whether a string is an order number the grammar accepts. */
function isOrderNo(s: string): boolean {
  try {
    return parseOrderNo(encoder.encode(s)) === s;
  } catch {
    // Rejected by the grammar: not an order number, so not part of the property.
    return false;
  }
}

/** The value a header gets after the client sets it, encodes it and a reader decodes it. */
function roundTrip(value: string): string {
  const h = headers() as MsgHdrsImpl;
  h.set("Nats-Msg-Id", value);
  return MsgHdrsImpl.decode(h.encode()).get("Nats-Msg-Id");
}

// Order numbers built from the characters that break naive ids (white space of every kind, the
// escape character, a BOM) mixed with the whole of Unicode.
const tricky = fc.constantFrom(" ", "\u00A0", "\uFEFF", "\u2028", "\u3000", "\t", "%", "%2", "42", ":");
const orderNos = fc
  .array(fc.oneof(tricky, fc.string({ unit: "grapheme", maxLength: 4 })), { minLength: 1, maxLength: 12 })
  .map((parts) => parts.join(""))
  .filter(isOrderNo);

describe("output message ids", () => {
  it("keep the seed's <orderNo>:<stage> form for plain order numbers", () => {
    expect(msgIdOf("100001", "processed")).toBe("100001:processed");
    expect(msgIdOf("订单-42", "completed")).toBe("订单-42:completed");
  });

  it("survive the header round trip unchanged, for any order number", () => {
    fc.assert(
      fc.property(orderNos, (o) => {
        const id = msgIdOf(o, "processed");
        expect(roundTrip(id)).toBe(id);
      }),
      { numRuns: 5_000 },
    );
  });

  it("are injective: the order number comes back from the id", () => {
    fc.assert(
      fc.property(orderNos, (o) => {
        expect(orderNoOfIdKey(orderIdKey(o))).toBe(o);
      }),
      { numRuns: 5_000 },
    );
    fc.assert(
      fc.property(orderNos, orderNos, (a, b) => {
        fc.pre(a !== b);
        expect(msgIdOf(a, "processed")).not.toBe(msgIdOf(b, "processed"));
      }),
      { numRuns: 5_000 },
    );
  });

  it("give 42, ' 42' and a BOM-prefixed 42 three different ids", () => {
    const ids = ["42", " 42", "\uFEFF42"].map((o) => roundTrip(msgIdOf(o, "processed")));
    expect(new Set(ids).size).toBe(3);
    expect(ids[0]).toBe("42:processed");
  });
});
