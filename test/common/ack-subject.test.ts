import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseAckSubject, readDelivery } from "../../src/common/ack-subject.js";

// The servers orderflow runs on send the short form (checked on 2.9.10, 2.10.27 and 2.15.1, with
// and without a JetStream domain); the long form, with domain and account hash, is what 2.14+ may
// send across accounts and leaf nodes. No server here can be told to send it, so both forms go
// through every parser of ours here (nats.js's own `msg.info` parses both as well).
const short = "$JS.ACK.ORDERS.NEW.3.1042.998.1796658682511894712.17";
const long = "$JS.ACK.hub.ACCHASH1.ORDERS.NEW.3.1042.998.1796658682511894712.17.Xk3q9";
const longNoToken = "$JS.ACK._.ACCHASH1.ORDERS.NEW.3.1042.998.1796658682511894712.17";

describe("JetStream ack subjects, both formats", () => {
  for (const [form, reply] of [
    ["short (stream first)", short],
    ["long (domain, account hash, random token)", long],
    ["long without the random token", longNoToken],
  ] as const) {
    it(`parses the ${form} form in full and on the hot path`, () => {
      expect(parseAckSubject(reply)).toEqual({
        stream: "ORDERS",
        consumer: "NEW",
        deliveryCount: 3,
        streamSeq: 1042,
        consumerSeq: 998,
        timestampMs: 1796658682511,
        pending: 17,
      });
      const out = { deliveryCount: 0, streamSeq: 0 };
      expect(readDelivery(reply, out)).toBe(true);
      expect(out).toEqual({ deliveryCount: 3, streamSeq: 1042 });
    });
  }

  it("refuses what is not an ack subject", () => {
    const out = { deliveryCount: 0, streamSeq: 0 };
    expect(readDelivery("_INBOX.abc.1", out)).toBe(false);
    expect(parseAckSubject("_INBOX.abc.1")).toBeUndefined();
    expect(parseAckSubject("$JS.ACK.ORDERS.NEW.3")).toBeUndefined();
  });

  it("the hot-path reader agrees with the full parser on any values, in either form", () => {
    const token = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/);
    fc.assert(
      fc.property(
        token,
        token,
        fc.option(fc.tuple(token, token, fc.option(token, { nil: undefined })), { nil: undefined }),
        fc.integer({ min: 1, max: 1e6 }),
        fc.integer({ min: 1, max: 2 ** 50 }),
        fc.integer({ min: 0, max: 1e9 }),
        (stream, consumer, prefix, delivered, seq, pending) => {
          const middle = `${stream}.${consumer}.${delivered}.${seq}.${seq}.1796658682511894712.${pending}`;
          const reply = prefix
            ? `$JS.ACK.${prefix[0]}.${prefix[1]}.${middle}${prefix[2] ? `.${prefix[2]}` : ""}`
            : `$JS.ACK.${middle}`;
          const full = parseAckSubject(reply);
          const out = { deliveryCount: 0, streamSeq: 0 };
          expect(readDelivery(reply, out)).toBe(true);
          expect(full).toMatchObject({ stream, consumer, deliveryCount: delivered, streamSeq: seq, pending });
          expect(out).toEqual({ deliveryCount: delivered, streamSeq: seq });
        },
      ),
    );
  });
});
