import { describe, expect, it } from "vitest";
import { type AckBody, ack, nak, term, working } from "../../src/common/ack-protocol.js";

const text = (b: AckBody): string => (typeof b === "string" ? b : new TextDecoder().decode(b));

describe("the JetStream ack protocol", () => {
  it("acks and keeps alive with the server's words", () => {
    expect(text(ack())).toBe("+ACK");
    expect(text(working())).toBe("+WPI");
  });

  it("naks at once without a delay, and with one in nanoseconds", () => {
    expect(text(nak())).toBe("-NAK");
    expect(text(nak(0))).toBe("-NAK");
    expect(text(nak(1_500))).toBe('-NAK {"delay":1500000000}');
    expect(JSON.parse(text(nak(250)).slice("-NAK ".length))).toEqual({ delay: 250_000_000 });
  });

  it("terms bare unless the server is known to honour a reason (2.9.10 would redeliver)", () => {
    expect(text(term())).toBe("+TERM");
    expect(text(term("bad sku"))).toBe("+TERM");
    expect(text(term("bad sku", { reasonHonoured: false }))).toBe("+TERM");
    expect(text(term("bad sku", { reasonHonoured: true }))).toBe("+TERM bad sku");
    expect(text(term("two\r\nlines", { reasonHonoured: true }))).toBe("+TERM two lines");
    expect(text(term("", { reasonHonoured: true }))).toBe("+TERM");
  });

  it("builds the constant bodies once: sending them allocates nothing per message", () => {
    expect(ack()).toBe(ack());
    expect(working()).toBe(working());
    expect(nak()).toBe(nak());
  });
});
