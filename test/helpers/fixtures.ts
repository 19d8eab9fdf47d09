import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { onTestFinished } from "vitest";
import { ensureTopology } from "../../src/topology/ensure.js";
import { DEFAULT_TOPOLOGY, type TopologyOptions } from "../../src/topology/spec.js";
import type { NatsServer } from "./nats-server.js";

/** A client connection for the test itself, closed when the test ends. */
export async function connectTo(server: NatsServer | string, name = "test"): Promise<NatsConnection> {
  const servers = typeof server === "string" ? server : server.url;
  const nc = await connect({ servers, name, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  onTestFinished(async () => {
    if (!nc.isClosed()) await nc.close();
  });
  return nc;
}

export async function withTopology(
  nc: NatsConnection,
  t: TopologyOptions = { ...DEFAULT_TOPOLOGY },
): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  await ensureTopology(jsm, t);
  return jsm;
}

/** Publishes orders `first..first+n-1` to ORDERS.received, awaiting every PubAck, in windows. */
export async function publishOrders(
  nc: NatsConnection,
  n: number,
  { first = 1, subject = "ORDERS.received" } = {},
) {
  const js = jetstream(nc);
  const window = 500;
  for (let i = 0; i < n; i += window) {
    const batch: Array<Promise<unknown>> = [];
    for (let j = i; j < Math.min(n, i + window); j++) batch.push(js.publish(subject, String(first + j)));
    await Promise.all(batch);
  }
}

/** Messages per subject, counted by the server (never from MONITOR, which is at-most-once). */
export async function subjectCounts(
  jsm: JetStreamManager,
  stream = "ORDERS",
): Promise<Record<string, number>> {
  const info = await jsm.streams.info(stream, { subjects_filter: ">" });
  return { ...(info.state.subjects ?? {}) };
}

/** Every payload stored under `subject`, in stream order. */
export async function readSubject(nc: NatsConnection, subject: string, stream = "ORDERS"): Promise<string[]> {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream, { subjects_filter: subject });
  const expected = info.state.subjects?.[subject] ?? 0;
  const out: string[] = [];
  if (expected === 0) return out;
  // An ephemeral consumer with filter_subject (not filter_subjects, which needs 2.10).
  const ci = await jsm.consumers.add(stream, {
    filter_subject: subject,
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.All,
    inactive_threshold: nanos(30_000),
  });
  const c = await js.consumers.get(stream, ci.name);
  const it = await c.consume({ max_messages: 1000 });
  for await (const m of it) {
    out.push(m.string());
    if (out.length >= expected) break;
  }
  await jsm.consumers.delete(stream, ci.name);
  return out;
}
