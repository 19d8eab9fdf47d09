import { AckPolicy, DeliverPolicy, type JetStreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { errorMessage, TopologyError } from "../common/errors.js";
import { type Logger, silentLogger } from "../common/logger.js";
import { finalStep, Stage, subjectOf, type TopologyOptions } from "../topology/spec.js";
import { readReplayedDeadLetters } from "./replayed-dead-letters.js";

/** What `status --check` reads beyond a status sample. */
export interface CheckReadings {
  /** Dead letters stored since `now - windowMs` and not replayed since. */
  deadLettersInWindow: number;
  /** Dead letters stored since `now - windowMs` whose replay finished: dealt with, not counted. */
  replayedInWindow: number;
  /**
   * When the newest completion (a message on the final step, `completed`) was stored, ms since the
   * epoch; undefined when there is none.
   */
  lastCompletionAtMs: number | undefined;
  /** When the stream's oldest message was stored; undefined when it is empty. */
  firstStoredAtMs: number | undefined;
}

/**
 * Counts dead letters by time with an ephemeral consumer starting at the window's start: its
 * num_pending is the count, and its delivered stream sequence is the one before the window's first
 * message (the server resolves the start time to a sequence when it creates the consumer). Stream
 * message get by start time needs 2.11; this works on 2.9.
 */
async function countSince(
  jsm: JetStreamManager,
  stream: string,
  subject: string,
  sinceMs: number,
  logger: Logger,
) {
  let name: string | undefined;
  try {
    const ci = await jsm.consumers.add(stream, {
      filter_subject: subject,
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(sinceMs).toISOString(),
      inactive_threshold: nanos(30_000),
      mem_storage: true,
      num_replicas: 1,
    });
    name = ci.name;
    return { count: ci.num_pending, firstSeq: ci.delivered.stream_seq + 1 };
  } catch (err) {
    throw new TopologyError(`cannot count ${subject} in ${stream}: ${errorMessage(err)}`, { cause: err });
  } finally {
    // inactive_threshold removes it anyway should this delete fail; the count is what matters.
    if (name) {
      await jsm.consumers
        .delete(stream, name)
        .catch((err: unknown) => logger.warn({ err, stream }, "could not delete the counting consumer"));
    }
  }
}

export async function collectCheckReadings(
  jsm: JetStreamManager,
  t: TopologyOptions,
  {
    windowMs,
    nowMs = Date.now(),
    logger = silentLogger,
  }: { windowMs: number; nowMs?: number; logger?: Logger },
): Promise<CheckReadings> {
  const [inWindow, last, first] = await Promise.all([
    countSince(jsm, t.stream, subjectOf(t, Stage.Failed), nowMs - windowMs, logger),
    jsm.streams.getMessage(t.stream, { last_by_subj: subjectOf(t, finalStep(t)) }),
    jsm.streams.info(t.stream),
  ]);
  // A replay marker follows its dead letter, so the window's markers cover its dead letters.
  const replayed =
    inWindow.count > 0
      ? (await readReplayedDeadLetters(jsm, t, inWindow.firstSeq)).deadLetterSeqs
      : new Set<number>();
  const replayedInWindow = [...replayed].filter((seq) => seq >= inWindow.firstSeq).length;
  return {
    deadLettersInWindow: Math.max(0, inWindow.count - replayedInWindow),
    replayedInWindow,
    lastCompletionAtMs: last ? last.time.getTime() : undefined,
    firstStoredAtMs: first.state.messages > 0 ? Date.parse(first.state.first_ts) : undefined,
  };
}
