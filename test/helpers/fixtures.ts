import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
import { waitFor } from "./wait.js";

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

export interface StoredMessage {
  seq: number;
  data: Uint8Array;
  headers: Map<string, string>;
}

/**
 * Every message stored under `subject`, in stream order, read through an ephemeral consumer
 * (filter_subject, not filter_subjects, which needs 2.10) in batches. Reading the payloads, not only
 * counting them, is what tells one lost + one duplicated order from none.
 */
export async function readStored(
  nc: NatsConnection,
  subject: string,
  stream = "ORDERS",
): Promise<StoredMessage[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream, { subjects_filter: subject });
  const expected = info.state.subjects?.[subject] ?? 0;
  const out: StoredMessage[] = [];
  if (expected === 0) return out;
  const ci = await jsm.consumers.add(stream, {
    filter_subject: subject,
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.All,
    inactive_threshold: nanos(30_000),
    num_replicas: 1,
    mem_storage: true,
  });
  const c = await jetstream(nc).consumers.get(stream, ci.name);
  const it = await c.consume({ max_messages: 2_000 });
  for await (const m of it) {
    const headers = new Map<string, string>();
    for (const k of m.headers?.keys() ?? []) headers.set(k, m.headers?.get(k) ?? "");
    out.push({ seq: m.seq, data: m.data, headers });
    if (out.length >= expected) break;
  }
  await jsm.consumers.delete(stream, ci.name);
  return out;
}

// ignoreBOM: else a leading BOM would be dropped and two distinct payloads would read the same.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Every payload stored under `subject`, in stream order, as text. Decoded as strict UTF-8, so equal
 * strings mean equal bytes (distinct byte strings never decode to the same text; invalid ones throw).
 */
export async function readSubject(nc: NatsConnection, subject: string, stream = "ORDERS"): Promise<string[]> {
  return (await readStored(nc, subject, stream)).map((m) => strictUtf8.decode(m.data));
}

/** A fresh directory for an order index on disk (LevelDB locks a directory to one user at a time). */
export function tempIndexDir(): string {
  return mkdtempSync(join(tmpdir(), "orderflow-index-"));
}

/**
 * Waits until `consumer` has nothing pending and nothing unacked. An ack leaves a worker once the
 * output's PubAck is in, so a stored output is visible a moment before its input's ack lands.
 */
export async function waitSettled(jsm: JetStreamManager, consumer: string, stream = "ORDERS"): Promise<void> {
  await waitFor(`${stream} > ${consumer} settled`, async () => {
    const ci = await jsm.consumers.info(stream, consumer);
    return ci.num_pending === 0 && ci.num_ack_pending === 0;
  });
}
