import type { ConsumerInfo, StreamConfig } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "../common/logger.js";
import { IndexOutputLedger } from "../orders/index-output-ledger.js";
import type { StageDefinition } from "../stages/stage.js";
import { StageWorker } from "../stages/stage-worker.js";
import { ackWaitMs, duplicateWindowMs, type StageTuning } from "../stages/worker-options.js";
import { Stage, subjectOf, type TopologyOptions } from "../topology/spec.js";

/** How logs and the dashboard name the stage's own transformation when no --handler module replaces it. */
export const BUILT_IN_HANDLER = "seed built-in";

export interface StageWorkerSetup {
  topology: TopologyOptions;
  /** The stage's consumer as the server has it: its ack wait paces +WPI. */
  consumer: ConsumerInfo;
  /** The stream's config: its duplicate window says which redeliveries are late. */
  stream: StreamConfig;
  tuning: Partial<StageTuning>;
  inboxPrefix?: string;
  /** Only the control test turns message ids off (`worker --no-msg-ids`). */
  msgIds?: boolean;
  /** The `--handler` module the stage was loaded from, as given; undefined for the built-in stage. */
  handlerFile?: string;
}

/**
 * A stage worker as orderflow runs it, in `orderflow worker` and in `orderflow up` alike: the
 * server-shaped settings read from the consumer and the stream, the operator's tuning, and the order
 * index as the ledger for redeliveries past the duplicate window. Its log lines carry the handler
 * in use (the module's path, or "seed built-in"), so the "<stage> started" line says what runs.
 */
export function createStageWorker(
  nc: NatsConnection,
  stage: StageDefinition,
  s: StageWorkerSetup,
  logger: Logger,
): StageWorker {
  return new StageWorker(
    nc,
    stage,
    {
      ...s.tuning,
      stream: s.topology.stream,
      failedSubject: subjectOf(s.topology, Stage.Failed),
      inboxPrefix: s.inboxPrefix,
      msgIds: s.msgIds,
      ackWaitMs: ackWaitMs(s.consumer.config.ack_wait),
      duplicateWindowMs: duplicateWindowMs(s.stream.duplicate_window),
    },
    {
      logger: logger.child({ handler: s.handlerFile ?? BUILT_IN_HANDLER }),
      outputLedger: new IndexOutputLedger(nc, s.topology, { inboxPrefix: s.inboxPrefix }),
    },
  );
}
