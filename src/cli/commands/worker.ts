import { Command, Option } from "commander";
import { untilAborted } from "../../common/abort.js";
import { closeConnection } from "../../common/connection.js";
import { UnknownStageError } from "../../common/errors.js";
import type { Tracing } from "../../common/tracing.js";
import { ConnectionTracker } from "../../runtime/connection-tracker.js";
import { createStageWorker, WithoutIndex } from "../../runtime/create-stage-worker.js";
import { loadHandlerModule } from "../../stages/handler-module.js";
import { pipelineStage, type StageDefinition } from "../../stages/stage.js";
import type { StageWorker } from "../../stages/stage-worker.js";
import type { StageTuning } from "../../stages/worker-options.js";
import { assessWorkerReadiness } from "../../telemetry/health.js";
import { OrderflowMetrics } from "../../telemetry/metrics.js";
import type { MetricsListenOptions } from "../../telemetry/metrics-options.js";
import { startMetricsServer } from "../../telemetry/metrics-server.js";
import { observeStageWorker } from "../../telemetry/stage-telemetry.js";
import { stageNamed } from "../../topology/pipeline.js";
import { stagesOf } from "../../topology/spec.js";
import { type CommandContext, commandContext, commandTracing } from "../context.js";
import { readMetricsFlags, withMetricsFlags } from "../metrics-flags.js";
import { stageTuningFor, withStageFlags } from "../stage-flags.js";

/** The flags of its own; the stage tuning is read through readStageFlags. */
interface WorkerFlags {
  msgIds: boolean;
  handler?: string;
}

export function workerCommand(): Command {
  return (
    withMetricsFlags(
      withStageFlags(
        new Command("worker")
          .description(
            "run a pipeline stage: processor (NEW -> ORDERS.processed), dispatcher (DISPATCH -> ORDERS.completed), or a stage the pipeline file declares",
          )
          .argument("<stage>", "processor | dispatcher, or a stage of --config"),
      ),
    )
      // Only for the control test that proves the fault tests detect duplicates.
      .addOption(
        new Option(
          "--handler <file>",
          "module (.js, .mjs, .ts) whose default export handle(order, ctx) replaces the stage's transformation",
        ).env("ORDERFLOW_HANDLER"),
      )
      .addOption(new Option("--no-msg-ids", "publish without Nats-Msg-Id (unsafe)").hideHelp())
      .addHelpText(
        "after",
        `
Examples:
  $ orderflow worker processor
  $ orderflow worker dispatcher --batch 500 --max-in-flight 1000 -s nats://n1:4222,nats://n2:4222
  $ orderflow worker processor --handler ./pricing.ts --handler-timeout 10s
  $ orderflow worker processor --metrics-port 9464 --metrics-host 0.0.0.0   # Prometheus, probes

Run as many instances as you like, on any machines: they share the consumer.
SIGINT/SIGTERM stops pulling, lets running handlers finish for up to --drain-timeout, gives the
rest back to the stream (nak, no delay) and exits 0; a second signal exits at once.
With --metrics-port, /metrics, /healthz and /readyz (200 while connected, its consumer exists and
answers its pulls) are served until the drain is over.`,
      )
      .action(async (name: string, flags: WorkerFlags & Record<string, unknown>, cmd: Command) => {
        const ctx = commandContext(cmd, `worker-${name}`);
        const declared = stagesOf(ctx.topology);
        const spec = stageNamed(declared, name);
        if (!spec) {
          throw new UnknownStageError(
            name,
            declared.map((s) => s.name),
            ctx.pipelineFile,
          );
        }
        const metrics = readMetricsFlags(flags);
        const builtIn = pipelineStage(ctx.topology, spec);
        // --handler first, then the pipeline file's; before connecting, so a broken module stops
        // the command before anything is pulled.
        const handlerFile = flags.handler ?? spec.handler;
        const stage = handlerFile ? await loadHandlerModule(handlerFile, builtIn) : builtIn;
        const tracing = await commandTracing(ctx, `orderflow-${name}`);
        try {
          await runWorker(
            ctx,
            stage,
            { ...flags, handler: handlerFile },
            metrics,
            tracing,
            stageTuningFor(cmd, spec),
          );
        } finally {
          // After the drain: the last orders' spans are exported before the process ends.
          await tracing?.shutdown();
        }
      })
  );
}

async function runWorker(
  ctx: CommandContext,
  stage: StageDefinition,
  flags: WorkerFlags,
  listen: MetricsListenOptions,
  tracing: Tracing | undefined,
  tuning: Partial<StageTuning>,
): Promise<void> {
  // Only with a listener: recording outcomes costs a little per order (label hashing, histogram
  // buckets, an outcome event the worker otherwise skips), and default process metrics run timers.
  const metrics =
    listen.metricsPort === undefined ? undefined : new OrderflowMetrics({ pipeline: false, index: false });
  const connections = new ConnectionTracker(ctx.logger);
  if (metrics) connections.on((s) => metrics.recordConnection(s));
  const workers: StageWorker[] = [];
  // Before connecting: a port in use stops the command at once, and probes get an answer (not
  // ready) while it connects.
  const server = metrics
    ? await startMetricsServer(
        listen,
        { metrics, readiness: () => assessWorkerReadiness(connections.all(), workers) },
        ctx.logger,
      )
    : undefined;
  try {
    await work(ctx, stage, flags, { metrics, connections, workers, tracing, tuning });
  } finally {
    // After the drain: a last scrape sees every order this worker finished.
    await server?.stop();
  }
}

async function work(
  ctx: CommandContext,
  stage: StageDefinition,
  flags: WorkerFlags,
  t: {
    metrics: OrderflowMetrics | undefined;
    connections: ConnectionTracker;
    workers: StageWorker[];
    tracing: Tracing | undefined;
    tuning: Partial<StageTuning>;
  },
): Promise<void> {
  const nc = await ctx.connect();
  t.connections.track(ctx.connectOptions.name, nc);
  try {
    const worker = await createStageWorker(nc, stage, {
      ...t.tuning,
      topology: ctx.topology,
      inboxPrefix: ctx.connectOptions.inboxPrefix,
      msgIds: flags.msgIds,
      // An indexer run beside the workers may start after them.
      withoutIndex: WithoutIndex.Hold,
      logger: ctx.logger,
      handlerFile: flags.handler,
      tracing: t.tracing,
    });
    if (t.metrics) {
      observeStageWorker(t.metrics, nc, worker, {
        handlerFile: flags.handler,
        consumerGauges: true,
        logger: ctx.logger,
      });
    }
    t.workers.push(worker);
    let fatal: Error | undefined;
    const failed = new Promise<void>((resolve) =>
      worker.once("fatal", (err) => {
        fatal = err;
        resolve();
      }),
    );
    await worker.start();
    await untilAborted(ctx.signal, failed);
    // What ended the wait: a failure while stopping is stop()'s to report.
    const outcome = fatal;
    await worker.stop();
    if (outcome) throw outcome;
  } finally {
    await closeConnection(nc, ctx.logger);
  }
}
