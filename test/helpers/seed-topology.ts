import { connectTo } from "./fixtures.js";

// What the seed's `nats stream add ORDERS …` and `nats consumer add ORDERS …` commands send to the
// server's JetStream API (the nats CLI's request bodies for those flags), so tests can run against a
// topology made exactly as the seed makes it rather than by `orderflow setup`.
export const SEED_STREAM = {
  name: "ORDERS",
  subjects: ["ORDERS.*"],
  retention: "limits",
  max_consumers: -1,
  max_msgs_per_subject: -1,
  max_msgs: -1,
  max_bytes: -1,
  max_age: 0,
  max_msg_size: -1,
  storage: "file",
  discard: "old",
  num_replicas: 1,
  duplicate_window: 120_000_000_000,
  sealed: false,
  deny_delete: false,
  deny_purge: false,
  allow_rollup_hdrs: false,
  allow_direct: true,
  mirror_direct: false,
} as const;

export const seedPull = (name: string, filter: string) => ({
  durable_name: name,
  deliver_policy: "all",
  ack_policy: "explicit",
  replay_policy: "instant",
  filter_subject: filter,
  max_deliver: -1,
  max_ack_pending: 0,
  headers_only: false,
});

export const SEED_MONITOR = {
  durable_name: "MONITOR",
  deliver_subject: "monitor.ORDERS",
  deliver_policy: "all",
  ack_policy: "none",
  replay_policy: "instant",
  max_deliver: -1,
  max_ack_pending: 0,
  headers_only: false,
  flow_control: false,
} as const;

/** Creates the stream and the three consumers with the seed's CLI request bodies, as raw API calls. */
export async function seedTopology(url: string): Promise<void> {
  const nc = await connectTo(url, "seed-cli");
  const api = async (subject: string, body: unknown) => {
    const reply = JSON.parse((await nc.request(subject, JSON.stringify(body))).string());
    if (reply.error) throw new Error(`${subject}: ${reply.error.description}`);
  };
  await api("$JS.API.STREAM.CREATE.ORDERS", SEED_STREAM);
  await api("$JS.API.CONSUMER.DURABLE.CREATE.ORDERS.NEW", {
    stream_name: "ORDERS",
    config: seedPull("NEW", "ORDERS.received"),
  });
  await api("$JS.API.CONSUMER.DURABLE.CREATE.ORDERS.DISPATCH", {
    stream_name: "ORDERS",
    config: seedPull("DISPATCH", "ORDERS.processed"),
  });
  await api("$JS.API.CONSUMER.DURABLE.CREATE.ORDERS.MONITOR", {
    stream_name: "ORDERS",
    config: SEED_MONITOR,
  });
}
