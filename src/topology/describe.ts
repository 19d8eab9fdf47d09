import type { ConsumerInfo, StreamInfo } from "@nats-io/jetstream";
import { formatBytes, formatDurationNs, formatNumber, keyValueBlock } from "../common/format.js";

const unlimited = (n: number | undefined): string =>
  n === undefined || n <= 0 ? "unlimited" : formatNumber(n);
const titleCase = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** "Information for Stream ORDERS", laid out as the seed's `nats stream add` prints it. */
export function describeStream(si: StreamInfo): string {
  const c = si.config;
  const s = si.state;
  return [
    `Information for Stream ${c.name} created ${si.created}`,
    "",
    keyValueBlock([
      ["Subjects", (c.subjects ?? []).join(", ")],
      ["Replicas", c.num_replicas],
      ["Storage", titleCase(c.storage)],
    ]),
    "",
    "Options:",
    "",
    keyValueBlock([
      ["Retention", titleCase(c.retention)],
      ["Acknowledgements", !c.no_ack],
      ["Discard Policy", titleCase(c.discard)],
      ["Duplicate Window", formatDurationNs(c.duplicate_window ?? 0)],
      ["Allows Msg Delete", !c.deny_delete],
      ["Allows Purge", !c.deny_purge],
      ["Allows Rollups", Boolean(c.allow_rollup_hdrs)],
    ]),
    "",
    "Limits:",
    "",
    keyValueBlock([
      ["Maximum Messages", unlimited(c.max_msgs)],
      ["Maximum Per Subject", unlimited(c.max_msgs_per_subject)],
      ["Maximum Bytes", unlimited(c.max_bytes)],
      ["Maximum Age", c.max_age > 0 ? formatDurationNs(c.max_age) : "unlimited"],
      ["Maximum Message Size", unlimited(c.max_msg_size)],
      ["Maximum Consumers", unlimited(c.max_consumers)],
    ]),
    "",
    "State:",
    "",
    keyValueBlock([
      ["Messages", formatNumber(s.messages)],
      ["Bytes", formatBytes(s.bytes)],
      ["FirstSeq", formatNumber(s.first_seq)],
      ["LastSeq", formatNumber(s.last_seq)],
      ["Active Consumers", s.consumer_count],
    ]),
  ].join("\n");
}

/** "Information for Consumer ORDERS > NEW", laid out as the seed's `nats consumer add` prints it. */
export function describeConsumer(ci: ConsumerInfo): string {
  const c = ci.config;
  const pull = !c.deliver_subject;
  const config: Array<[string, string | number | boolean]> = [["Durable Name", c.durable_name ?? ci.name]];
  if (pull) config.push(["Pull Mode", true]);
  else config.push(["Delivery Subject", c.deliver_subject ?? ""]);
  if (c.filter_subject) config.push(["Filter Subject", c.filter_subject]);
  config.push(["Deliver Policy", titleCase(c.deliver_policy)], ["Ack Policy", titleCase(c.ack_policy)]);
  if (c.ack_policy !== "none") config.push(["Ack Wait", formatDurationNs(c.ack_wait ?? 0)]);
  config.push(["Replay Policy", titleCase(c.replay_policy)]);
  if (c.max_deliver && c.max_deliver > 0) config.push(["Maximum Deliveries", c.max_deliver]);
  if (c.ack_policy !== "none") config.push(["Max Ack Pending", formatNumber(c.max_ack_pending ?? 0)]);
  if (pull) config.push(["Max Waiting Pulls", formatNumber(c.max_waiting ?? 0)]);
  else config.push(["Flow Control", Boolean(c.flow_control)]);
  if (c.num_replicas) config.push(["Replicas", c.num_replicas]);

  const state: Array<[string, string | number | boolean]> = [
    [
      "Last Delivered Message",
      `Consumer sequence: ${formatNumber(ci.delivered.consumer_seq)} Stream sequence: ${formatNumber(ci.delivered.stream_seq)}`,
    ],
  ];
  if (c.ack_policy !== "none") {
    state.push(
      [
        "Acknowledgment floor",
        `Consumer sequence: ${formatNumber(ci.ack_floor.consumer_seq)} Stream sequence: ${formatNumber(ci.ack_floor.stream_seq)}`,
      ],
      [
        "Outstanding Acks",
        `${formatNumber(ci.num_ack_pending)} out of maximum ${formatNumber(c.max_ack_pending ?? 0)}`,
      ],
      ["Redelivered Messages", formatNumber(ci.num_redelivered)],
    );
  }
  state.push(["Unprocessed Messages", formatNumber(ci.num_pending)]);
  if (pull) state.push(["Waiting Pulls", `${ci.num_waiting} of maximum ${formatNumber(c.max_waiting ?? 0)}`]);
  else state.push(["Active Interest", ci.push_bound ? "Active" : "No interest"]);

  return [
    `Information for Consumer ${ci.stream_name} > ${ci.name} created ${ci.created}`,
    "",
    "Configuration:",
    "",
    keyValueBlock(config),
    "",
    "State:",
    "",
    keyValueBlock(state),
  ].join("\n");
}
