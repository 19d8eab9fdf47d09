import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { errorMessage } from "../common/errors.js";
import { type Logger, silentLogger } from "../common/logger.js";
import type { StageWorker } from "../stages/stage-worker.js";
import { consumerSample } from "../status/collect.js";
import { consumerInfo } from "../topology/read.js";
import { BUILT_IN_HANDLER_LABEL, type OrderflowMetrics } from "./metrics.js";

/** A consumer read at scrape time that takes longer than this is left out of that scrape. */
const CONSUMER_READ_TIMEOUT_MS = 1_000;

export interface StageTelemetryOptions {
  /** The handler module as given (`--handler`); undefined: the stage's own ("built-in"). */
  handlerFile: string | undefined;
  /**
   * Read the worker's consumer (one CONSUMER.INFO, which the stage's user in
   * deploy/nats-server.conf may send) at each scrape, for its backlog gauges. `up` leaves this off:
   * its status sampler reads both consumers already.
   */
  consumerGauges: boolean;
  logger?: Logger;
}

/**
 * Records a stage worker in the process's metrics as `up` does, same names and labels: its
 * outcomes, handler calls and handlers running, its build info, and (for `orderflow worker`) its
 * consumer's backlog at each scrape. Call before start(), so the counters show 0 from the start.
 */
export function observeStageWorker(
  metrics: OrderflowMetrics,
  nc: NatsConnection,
  worker: StageWorker,
  o: StageTelemetryOptions,
): void {
  const stage = worker.stage.name;
  metrics.registerStage(stage);
  metrics.recordBuild({
    stage,
    handler: o.handlerFile ?? BUILT_IN_HANDLER_LABEL,
    natsServerVersion: () => nc.info?.version ?? "",
  });
  worker.on("outcome", (outcome) => metrics.recordOutcome(outcome));
  worker.on("handler", (call) => metrics.recordHandlerCall(call));
  metrics.readHandlersRunning(() => [{ stage, running: worker.stats().handlersRunning }]);
  if (o.consumerGauges) metrics.readOnScrape(consumerReader(metrics, nc, worker, o.logger ?? silentLogger));
}

/** Reads the worker's own consumer into the backlog gauges; on a failure, drops them and counts it. */
function consumerReader(
  metrics: OrderflowMetrics,
  nc: NatsConnection,
  worker: StageWorker,
  logger: Logger,
): () => Promise<void> {
  const stream = worker.options.stream;
  const consumer = worker.stage.consumer;
  let jsm: JetStreamManager | undefined;
  return async () => {
    try {
      jsm ??= await jetstreamManager(nc, { timeout: CONSUMER_READ_TIMEOUT_MS });
      const info = await consumerInfo(jsm, stream, consumer);
      if (info) metrics.recordConsumer(consumerSample(info));
      else metrics.forgetConsumer(consumer);
    } catch (err) {
      // NATS away or slow: this scrape goes without the gauges rather than with stale ones.
      metrics.forgetConsumer(consumer);
      metrics.recordStatusError();
      logger.debug({ err: errorMessage(err), consumer }, "could not read the consumer for /metrics");
    }
  };
}
