import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { LateRedeliveryError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { Tracing } from "../common/tracing.js";
import { IndexOutputLedger } from "../orders/index-output-ledger.js";
import { orderLookupOptions } from "../orders/lookup-options.js";
import { askIndex } from "../orders/order-lookup.js";
import { LateRedeliveries, type OutputLedger } from "../stages/output-ledger.js";
import type { StageDefinition } from "../stages/stage.js";
import { StageWorker } from "../stages/stage-worker.js";
import {
  ackWaitMs,
  DEFAULT_STAGE_WORKER_OPTIONS,
  duplicateWindowMs,
  type StageWorkerOptions,
} from "../stages/worker-options.js";
import { requireConsumer, streamInfo } from "../topology/read.js";
import { Stage, subjectOf, type TopologyOptions, topologyOptions } from "../topology/spec.js";

/**
 * What a `verify` worker does when no order index answers as it is built: `refuse` (throw a
 * LateRedeliveryError: start one, or choose `publish`), or `hold` (wire the index all the same and
 * hold late redeliveries, logging why, until it answers: for `orderflow worker` and `up`, whose
 * indexer may start after the workers).
 */
export const WithoutIndex = { Refuse: "refuse", Hold: "hold" } as const;

/** How logs and the dashboard name the stage's own transformation when no handler module replaces it. */
export const BUILT_IN_HANDLER = "seed built-in";
export type WithoutIndex = (typeof WithoutIndex)[keyof typeof WithoutIndex];

/**
 * Options of {@link createStageWorker}: the worker's own, less the two it reads from the server
 * (`ackWaitMs` from the consumer, `duplicateWindowMs` from the stream), and what it is wired with.
 */
export interface CreateStageWorkerOptions
  extends Partial<Omit<StageWorkerOptions, "ackWaitMs" | "duplicateWindowMs">> {
  /** Where the worker logs. Default: nowhere. */
  logger?: Logger;
  /** The topology the stage runs in: its stream, dead-letter subject and index. Default the seed's. */
  topology?: Partial<TopologyOptions>;
  /** With `lateRedeliveries: verify`, when no order index answers at creation. Default `refuse`. */
  withoutIndex?: WithoutIndex;
  /**
   * The handler module the stage was loaded from, as given (`--handler`): every log line of the
   * worker names it, or "seed built-in", so its start line says what runs. Default undefined.
   */
  handlerFile?: string;
  /** OpenTelemetry tracing (docs/tracing.md); without it (the default) the worker traces nothing. */
  tracing?: Tracing;
}

/**
 * A stage worker as orderflow runs it, and the way to run a stage from a library: the consumer's
 * ack wait (which paces +WPI) and the stream's duplicate window (which says which redeliveries
 * are late) read from the server, and, with `lateRedeliveries: verify` (the default), the order
 * index wired in to verify those late ones. When no index answers, it refuses with one line
 * (LateRedeliveryError) unless told to hold (`withoutIndex: hold`). Not started: call start().
 *
 * @throws StreamMissingError or ConsumerMissingError when the topology is not set up.
 * @throws LateRedeliveryError when it would have to verify and no order index answers.
 */
export async function createStageWorker(
  nc: NatsConnection,
  stage: StageDefinition,
  options: CreateStageWorkerOptions = {},
): Promise<StageWorker> {
  const {
    logger: baseLogger,
    topology: topologyOverrides,
    withoutIndex = WithoutIndex.Refuse,
    handlerFile,
    tracing,
    ...tuning
  } = options;
  const logger = baseLogger?.child({ handler: handlerFile ?? BUILT_IN_HANDLER });
  const topology = topologyOptions({
    ...topologyOverrides,
    ...(tuning.stream ? { stream: tuning.stream } : {}),
  });
  const jsm = await jetstreamManager(nc);
  const stream = await streamInfo(jsm, topology);
  const consumer = await requireConsumer(jsm, topology.stream, stage.consumer);
  const workerOptions: Partial<StageWorkerOptions> = {
    ...tuning,
    stream: topology.stream,
    failedSubject: tuning.failedSubject ?? subjectOf(topology, Stage.Failed),
    ackWaitMs: ackWaitMs(consumer.config.ack_wait),
    duplicateWindowMs: duplicateWindowMs(stream.config.duplicate_window),
  };
  let outputLedger: OutputLedger | undefined;
  const lateRedeliveries = tuning.lateRedeliveries ?? DEFAULT_STAGE_WORKER_OPTIONS.lateRedeliveries;
  if (lateRedeliveries === LateRedeliveries.Verify) {
    const lookup = orderLookupOptions({ inboxPrefix: tuning.inboxPrefix });
    if (withoutIndex === WithoutIndex.Refuse) {
      // Any order number: only whether an index answers matters.
      const { problem } = await askIndex(nc, lookup, "0", 0);
      if (problem) throw new LateRedeliveryError(stage.name, problem);
    }
    outputLedger = new IndexOutputLedger(nc, topology, lookup, logger);
  }
  return new StageWorker(nc, stage, workerOptions, { logger, outputLedger, tracing });
}
