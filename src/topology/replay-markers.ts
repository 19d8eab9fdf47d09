import type { TopologyOptions } from "./spec.js";

/**
 * Replay markers: a message on `<prefix>.replayed` per step of a dead letter's replay, with a
 * deterministic Nats-Msg-Id (orders/replay.ts writes them). The server dedupes ids for 2 minutes
 * only; the durable record is the message itself. Here, below both, because the replay writes them
 * and `status` reads them: a dead letter with a `done` marker is no longer a failure to act on.
 */
export const REPLAYED_STAGE = "replayed";
export const ReplayHeader = {
  /** Stream sequence of the dead letter the message is about. */
  Of: "Orderflow-Replay-Of",
  /** `intent` (about to republish) or `done` (republished, PubAck received). */
  State: "Orderflow-Replay-State",
  /** Which replay of that dead letter (1, or more with --force). */
  Round: "Orderflow-Replay-Round",
} as const;
export const ReplayState = { Intent: "intent", Done: "done" } as const;
export type ReplayState = (typeof ReplayState)[keyof typeof ReplayState];

export function replayedSubject(t: Pick<TopologyOptions, "subjectPrefix">): string {
  return `${t.subjectPrefix}.${REPLAYED_STAGE}`;
}
