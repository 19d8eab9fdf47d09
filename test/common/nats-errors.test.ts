import { JetStreamApiError } from "@nats-io/jetstream";
import {
  AuthorizationError,
  ClosedConnectionError,
  NoRespondersError,
  PermissionViolationError,
  TimeoutError,
} from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { causeOf, NatsFailure, natsFailure } from "../../src/common/nats-errors.js";

/** What the JetStream client throws for a request nobody answers: its own class, named, over the core error. */
function jetStreamNotEnabled(): Error {
  const err = new Error("jetstream is not enabled", { cause: new NoRespondersError("$JS.API.INFO") });
  err.name = "JetStreamNotEnabled";
  return err;
}

describe("what a nats.js error means", () => {
  it("is read from the class and the JetStream code, also through the cause chain", () => {
    expect(natsFailure(new TimeoutError())).toBe(NatsFailure.Timeout);
    expect(natsFailure(new Error("request failed", { cause: new TimeoutError() }))).toBe(NatsFailure.Timeout);
    expect(natsFailure(new NoRespondersError("orderflow.index.lookup"))).toBe(NatsFailure.NoResponders);
    expect(natsFailure(new ClosedConnectionError())).toBe(NatsFailure.Closed);
    expect(natsFailure(new AuthorizationError("Authorization Violation"))).toBe(NatsFailure.AuthRejected);
    const refused = new PermissionViolationError("Permissions Violation", "publish", "ORDERS.received");
    expect(natsFailure(new Error("publish failed", { cause: refused }))).toBe(NatsFailure.PermissionDenied);
    expect(natsFailure(new JetStreamApiError({ code: 400, err_code: 10054, description: "x" }))).toBe(
      NatsFailure.MessageTooLarge,
    );
    expect(natsFailure(new JetStreamApiError({ code: 400, err_code: 10059, description: "x" }))).toBe(
      NatsFailure.JetStreamApi,
    );
  });

  it("says JetStream is not enabled although the error's cause is a no-responders", () => {
    expect(natsFailure(jetStreamNotEnabled())).toBe(NatsFailure.JetStreamDisabled);
  });

  it("falls back on the message only for what nats.js reports as a plain Error", () => {
    expect(natsFailure(new Error("max_payload size exceeded"))).toBe(NatsFailure.MaxPayload);
    expect(natsFailure(new Error("unable to parse credentials"))).toBe(NatsFailure.AuthRejected);
    expect(natsFailure(new Error("self-signed certificate in certificate chain"))).toBe(NatsFailure.Tls);
    expect(natsFailure(new Error("disconnected"))).toBe(NatsFailure.Disconnected);
    expect(natsFailure(new Error("something else"))).toBe(NatsFailure.Other);
    expect(natsFailure("not an error")).toBe(NatsFailure.Other);
  });

  it("finds a class anywhere in the cause chain, and nothing where it is not", () => {
    const timeout = new TimeoutError();
    expect(causeOf(new Error("a", { cause: new Error("b", { cause: timeout }) }), TimeoutError)).toBe(
      timeout,
    );
    expect(causeOf(new Error("a"), TimeoutError)).toBeUndefined();
    expect(causeOf(undefined, TimeoutError)).toBeUndefined();
  });
});
