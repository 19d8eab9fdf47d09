import { Command, Option } from "commander";
import { untilAborted } from "../../common/abort.js";
import { closeConnection } from "../../common/connection.js";
import { UnknownStageError } from "../../common/errors.js";
import type { Tracing } from "../../common/tracing.js";
import { ConnectionTracker } from "../../runtime/connection-tracker.js";
import { createStageWorker, WithoutIndex } from "../../runtime/create-stage-worker.js";
import { loadHandlerModule } from "../../stages/handler-module.js";
import { dispatcherStage, processorStage, type StageDefinition } from "../../stages/stage.js";
import type { StageWorker } from "../../stages/stage-worker.js";
import { assessWorkerReadiness } from "../../telemetry/health.js";
import { OrderflowMetrics } from "../../telemetry/metrics.js";
import type { MetricsListenOptions } from "../../telemetry/metrics-options.js";
import { startMetricsServer } from "../../telemetry/metrics-server.js";
import { observeStageWorker } from "../../telemetry/stage-telemetry.js";
import { ServiceName } from "../../telemetry/tracing.js";
import { type CommandContext, commandContext, commandTracing } from "../context.js";
import { readMetricsFlags, withMetricsFlags } from "../metrics-flags.js";
import { readStageFlags, withStageFlags } from "../stage-flags.js";

/** The flags of its own; the stage tuning is read through readStageFlags. */
interface WorkerFlags {
  msgIds: boolean;
  handler?: string;
}

const STAGES = { processor: processorStage, dispatcher: dispatcherStage } as const;
type StageName = keyof typeof STAGES;

export function workerCommand(): Command {
  return (
    withMetricsFlags(
      withStageFlags(
        new Command("worker")
          .description(
            "run a pipeline stage: processor (NEW -> ORDERS.processed) or dispatcher (DISPATCH -> ORDERS.completed)",
          )
          .argument("<stage>", "processor | dispatcher"),
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
        if (!(name in STAGES)) {
          throw new UnknownStageError(name, ["processor", "dispatcher"]);
        }
        const ctx = commandContext(cmd, `worker-${name}`);
        const metrics = readMetricsFlags(flags);
        const builtIn = STAGES[name as StageName](ctx.topology);
        // Before connecting: a broken module stops the command before anything is pulled.
        const stage = flags.handler ? await loadHandlerModule(flags.handler, builtIn) : builtIn;
        const tracing = await commandTracing(
          ctx,
          name === "processor" ? ServiceName.Processor : ServiceName.Dispatcher,
        );
        try {
          await runWorker(ctx, stage, flags, metrics, tracing);
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
    await work(ctx, stage, flags, { metrics, connections, workers, tracing });
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
  },
): Promise<void> {
  const nc = await ctx.connect();
  t.connections.track(ctx.connectOptions.name, nc);
  try {
    const worker = await createStageWorker(nc, stage, {
      ...readStageFlags({ ...flags }),
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
