import { type NatsConnection, PermissionViolationError } from "@nats-io/nats-core";
import { expect } from "vitest";
import { waitFor } from "../helpers/wait.js";

/**
 * How the client reports a refusal. A request (JetStream API call, JetStream publish) rejects with
 * the server's permission violation as its cause; a core publish or a subscribe is refused
 * asynchronously, as a connection status "error" (and a closed subscription).
 */
export function permissionViolation(err: unknown): PermissionViolationError | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof PermissionViolationError) return e;
  }
  return undefined;
}

/** Asserts that `action` is refused by the server for a publish to `subject` (exact or matching). */
export async function expectRefusedRequest(
  action: Promise<unknown>,
  subject: string | RegExp,
): Promise<void> {
  const outcome = await action.then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  expect(outcome.ok, `expected a refusal for ${String(subject)}, but it succeeded`).toBe(false);
  const violation = outcome.ok ? undefined : permissionViolation(outcome.err);
  expect(
    violation,
    `expected a permission violation, got ${outcome.ok ? "success" : String(outcome.err)}`,
  ).toBeInstanceOf(PermissionViolationError);
  expect(violation?.operation).toBe("publish");
  if (typeof subject === "string") expect(violation?.subject).toBe(subject);
  else expect(violation?.subject).toMatch(subject);
}

/** Collects the permission violations the server reports on `nc` from now on. */
export function watchViolations(nc: NatsConnection): PermissionViolationError[] {
  const seen: PermissionViolationError[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "error" && s.error instanceof PermissionViolationError) seen.push(s.error);
    }
  })();
  return seen;
}

/** Core-publishes to `subject` and waits for the server's refusal of it. */
export async function expectRefusedPublish(
  nc: NatsConnection,
  seen: PermissionViolationError[],
  subject: string,
): Promise<void> {
  nc.publish(subject, "not allowed");
  await waitFor(`a refusal of publish to ${subject}`, () =>
    seen.find((v) => v.operation === "publish" && v.subject === subject),
  );
}

/** Subscribes to `subject` and waits for the server to refuse it (the subscription closes with it). */
export async function expectRefusedSubscribe(nc: NatsConnection, subject: string): Promise<void> {
  const sub = nc.subscribe(subject);
  const closed = await sub.closed;
  expect(closed, `subscribe to ${subject} was not refused`).toBeInstanceOf(PermissionViolationError);
  const violation = closed as PermissionViolationError;
  expect(violation.operation).toBe("subscription");
  expect(violation.subject).toBe(subject);
}
