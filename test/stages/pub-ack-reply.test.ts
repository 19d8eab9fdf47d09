import { headers } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { isPubAck, pubAckFailure } from "../../src/stages/pub-ack-reply.js";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("PubAck validation", () => {
  it("takes the server's PubAcks, with a domain or a duplicate flag, as stored", () => {
    expect(isPubAck(bytes('{"stream":"ORDERS", "seq":42}'))).toBe(true);
    expect(isPubAck(bytes('{"stream":"ORDERS", "domain":"hub", "seq":7}'))).toBe(true);
    expect(isPubAck(bytes('{"stream":"ORDERS", "seq":7, "duplicate": true}'))).toBe(true);
  });

  it("does not take anything else for a store", () => {
    expect(isPubAck(bytes(""))).toBe(false);
    expect(isPubAck(bytes('{"stream":"ORDERS"}'))).toBe(false);
    expect(
      isPubAck(bytes('{"error":{"code":503,"err_code":10039,"description":"jetstream not enabled"}}')),
    ).toBe(false);
    expect(isPubAck(bytes("pong"))).toBe(false);
    expect(isPubAck(bytes(' {"stream":"ORDERS", "seq":1}'))).toBe(false);
  });

  it("says why a publish failed: no responders, a JetStream error, a status, or not JetStream", () => {
    const h = headers(503, "No Responders");
    const none = pubAckFailure("ORDERS.x", new Uint8Array(0), h);
    expect(none.message).toContain("no stream captures this subject");
    expect(none.hint).toBe("run `orderflow setup`");

    const js = pubAckFailure(
      "ORDERS.x",
      bytes('{"error":{"code":400,"err_code":10060,"description":"expected stream does not match"}}'),
      undefined,
    );
    expect(js.message).toContain("expected stream does not match (10060)");

    expect(pubAckFailure("ORDERS.x", new Uint8Array(0), headers(408, "Request Timeout")).message).toContain(
      "status 408 Request Timeout",
    );

    const core = pubAckFailure("ORDERS.x", bytes("pong"), undefined);
    expect(core.message).toContain('the reply is not a JetStream PubAck: "pong"');
    expect(core.hint).toContain("core NATS responder");
    expect(pubAckFailure("ORDERS.x", bytes('{"ok":true}'), undefined).message).toContain(
      "not a JetStream PubAck",
    );
  });

  it("marks the stream's 'try again shortly' answers (2.11+) as retry-later, and nothing else", () => {
    const tooMany = pubAckFailure(
      "ORDERS.x",
      bytes('{"error":{"code":429,"err_code":10167,"description":"too many requests"}}'),
      undefined,
    );
    expect(tooMany.retryLater).toBe(true);
    const inProcess = pubAckFailure(
      "ORDERS.x",
      bytes('{"error":{"code":409,"err_code":10158,"description":"duplicate message id is in process"}}'),
      undefined,
    );
    expect(inProcess.retryLater).toBe(true);
    expect(pubAckFailure("ORDERS.x", new Uint8Array(0), headers(429, "Too Many Requests")).retryLater).toBe(
      true,
    );
    const other = pubAckFailure(
      "ORDERS.x",
      bytes('{"error":{"code":400,"err_code":10060,"description":"expected stream does not match"}}'),
      undefined,
    );
    expect(other.retryLater).toBe(false);
    expect(pubAckFailure("ORDERS.x", new Uint8Array(0), headers(503, "No Responders")).retryLater).toBe(
      false,
    );
  });
});
