import { describe, expect, it } from "vitest";
import { InvalidOrderError } from "../../src/common/errors.js";
import { ORDER_NO_MAX_BYTES, orderNoOf, parseOrderNo, stageSuffix } from "../../src/stages/payload.js";

const bytes = (s: string | number[]) =>
  typeof s === "string" ? new TextEncoder().encode(s) : new Uint8Array(s);
const reason = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    if (err instanceof InvalidOrderError) return err.reason;
    throw err;
  }
  return "accepted";
};

describe("order-number grammar", () => {
  it("accepts ASCII and UTF-8 order numbers up to the limit", () => {
    expect(parseOrderNo(bytes("100001"))).toBe("100001");
    expect(parseOrderNo(bytes("ORD-2026/11 #7"))).toBe("ORD-2026/11 #7");
    expect(parseOrderNo(bytes("订单-42"))).toBe("订单-42");
    expect(parseOrderNo(bytes("x".repeat(ORDER_NO_MAX_BYTES)))).toHaveLength(ORDER_NO_MAX_BYTES);
  });

  it("rejects each kind of malformed order with its reason", () => {
    expect(reason(() => parseOrderNo(bytes("")))).toBe("empty");
    expect(reason(() => parseOrderNo(bytes([0x31, 0xff, 0xfe])))).toBe("not-utf8");
    expect(reason(() => parseOrderNo(bytes("12\u0001")))).toBe("control-char");
    expect(reason(() => parseOrderNo(bytes("12\n")))).toBe("control-char");
    expect(reason(() => parseOrderNo(bytes("12\u0085")))).toBe("control-char");
    expect(reason(() => parseOrderNo(bytes("1,2")))).toBe("comma");
    expect(reason(() => parseOrderNo(bytes("x".repeat(ORDER_NO_MAX_BYTES + 1))))).toBe("too-long");
  });

  it("reads the order number of <orderNo>,processed and nothing else", () => {
    const processed = stageSuffix("processed");
    expect(orderNoOf(bytes("100001,processed"), processed)).toBe("100001");
    expect(reason(() => orderNoOf(bytes("100001"), processed))).toBe("bad-form");
    expect(reason(() => orderNoOf(bytes("100001,completed"), processed))).toBe("bad-form");
    expect(reason(() => orderNoOf(bytes(",processed"), processed))).toBe("bad-form");
    expect(reason(() => orderNoOf(bytes("1,2,processed"), processed))).toBe("bad-form");
    expect(reason(() => orderNoOf(bytes("1\u0002,processed"), processed))).toBe("control-char");
  });
});
