import { basename, join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { type ConnectOptions, closeConnection, connect } from "../common/connection.js";
import { ErrorCode, errorMessage, OrderflowError } from "../common/errors.js";
import { type Logger, silentLogger } from "../common/logger.js";
import { retryTimeouts } from "../common/retry-timeouts.js";
import {
  describeServerVersion,
  olderServerNotice,
  readServerVersion,
  serverFeatures,
} from "../common/server-features.js";
import type { Tracing } from "../common/tracing.js";
import { buildDashboard } from "../dashboard/app.js";
import { DeadLetterActions } from "../dashboard/dead-letter-actions.js";
import { LiveState, type WorkerView } from "../dashboard/live-state.js";
import { PublishJobs } from "../dashboard/publish-jobs.js";
import { listenDashboard } from "../dashboard/server.js";
import { SseHub } from "../dashboard/sse.js";
import { MonitorFeed } from "../monitor/monitor-feed.js";
import { OrderIndexer } from "../orders/order-indexer.js";
import { lookupOrder } from "../orders/order-lookup.js";
import { pipelineStage, type StageDefinition } from "../stages/stage.js";
import type { StageWorker } from "../stages/stage-worker.js";
import { type StageTuning, stageTuningOf } from "../stages/worker-options.js";
import { StatusSampler } from "../status/status-sampler.js";
import { assessSystemReadiness, type Readiness } from "../telemetry/health.js";
import { BUILT_IN_HANDLER_LABEL, OrderflowMetrics } from "../telemetry/metrics.js";
import { startMetricsServer } from "../telemetry/metrics-server.js";
import { ChangeKind, ensureTopology, type TopologyChange } from "../topology/ensure.js";
import { intakeStep, stagesOf, stepsOf, subjectOf, type TopologyOptions } from "../topology/spec.js";
import { ConnectionTracker } from "./connection-tracker.js";
import { BUILT_IN_HANDLER, createStageWorker, WithoutIndex } from "./create-stage-worker.js";
import type { ManagedNats } from "./nats-endpoint.js";
import { Part, partsToRun, type UpOptions } from "./up-options.js";

/** How the dashboard names a stage that runs the seed's own transformation. */
export { BUILT_IN_HANDLER };

export interface SystemConfig {
  /** How to reach NATS; each connection gets its own name (`orderflow-up`, `orderflow-processor`, …). */
  connect: ConnectOptions;
  topology: TopologyOptions;
  options: UpOptions;
  /** Where NATS is, one line for the page (no credentials). */
  natsDescription: string;
  /** A server `up` started; stopped last. */
  managed?: ManagedNats;
  /**
   * Stages by name loaded from handler modules (the pipeline file's, `--processor-handler`, …;
   * loadHandlerModule), run instead of the built-in transformation.
   */
  stages?: Readonly<Record<string, StageDefinition>>;
  /** The files those stages were loaded from, as the dashboard names them. */
  handlerFiles?: Readonly<Record<string, string>>;
  /** Per stage name, tuning over `options`' (the pipeline file's, under flags given). */
  stageTuning?: Readonly<Record<string, Partial<StageTuning>>>;
}

export interface SystemDeps {
  logger?: Logger;
  /** Process metrics (CPU, memory, event loop) in /metrics. Default true. */
  processMetrics?: boolean;
  /** OpenTelemetry tracing for the workers and the publish form (docs/tracing.md). Default: none. */
  tracing?: Tracing;
}

interface Running {
  name: string;
  stop: () => Promise<void>;
}

/**
 * The whole of `orderflow up` in one process: topology, processor and dispatcher workers, the MONITOR
 * feed, the order index, the status sampler and the dashboard. start() brings them up in that order;
 * stop() takes them down in reverse (each step on its own, failures reported after all ran), so
 * in-flight orders are acked before the connections drain and the managed server stops.
 */
export class OrderflowSystem {
  private readonly running: Running[] = [];
  private readonly logger: Logger;
  private readonly tracing: Tracing | undefined;
  private failed: (err: Error) => void = () => undefined;
  /** Resolves with the error of a part that stopped by itself (a worker lost its connection for good). */
  readonly failure = new Promise<Error>((resolve) => {
    this.failed = resolve;
  });
  readonly connections: ConnectionTracker;
  readonly metrics: OrderflowMetrics;
  dashboardUrl = "";
  /** `http://host:port/` of the --metrics-port listener; "" without one. */
  metricsUrl = "";
  /** The dashboard's picture, once built: /readyz of both listeners reads it. */
  private state: LiveState | undefined;
  topologyChanges: TopologyChange[] = [];
  /** "nats-server 2.15.1, JetStream API level 5", once connected (the page's footer shows it). */
  serverDescription = "";
  /** On a server older than 2.10, what the team gives up there (one line, for `up` to say once). */
  serverNotice: string | undefined;
  private stopPromise: Promise<void> | undefined;

  private constructor(
    private readonly config: SystemConfig,
    deps: SystemDeps,
  ) {
    this.logger = deps.logger ?? silentLogger;
    this.tracing = deps.tracing;
    this.connections = new ConnectionTracker(this.logger);
    this.metrics = new OrderflowMetrics({
      processMetrics: deps.processMetrics ?? true,
      index: partsToRun(
        config.options.parts,
        stagesOf(config.topology).map((st) => st.name),
      ).includes(Part.Indexer),
      steps: stepsOf(config.topology),
    });
  }

  /** Starts everything; on a failure, stops what was started and throws the failure. */
  static async start(config: SystemConfig, deps: SystemDeps = {}): Promise<OrderflowSystem> {
    const system = new OrderflowSystem(config, deps);
    if (config.managed) {
      const managed = config.managed;
      system.running.push({ name: "managed nats-server", stop: () => managed.stop() });
    }
    try {
      await system.bringUp();
    } catch (err) {
      await system
        .stop()
        .catch((stopErr: unknown) =>
          system.logger.error({ err: errorMessage(stopErr) }, "could not stop cleanly after a failed start"),
        );
      throw err;
    }
    return system;
  }

  private async open(name: string): Promise<NatsConnection> {
    const nc = await connect({ ...this.config.connect, name }, this.logger.child({ connection: name }));
    this.connections.track(name, nc);
    this.running.push({ name: `connection ${name}`, stop: () => closeConnection(nc, this.logger) });
    return nc;
  }

  /** /readyz before the dashboard's state exists: not ready, saying so. */
  private readiness(): Readiness {
    return (
      this.state?.readiness() ??
      assessSystemReadiness({
        connections: this.connections.all(),
        topologyProblem: "orderflow up is starting",
        workers: [],
        unattended: [],
      })
    );
  }

  private async bringUp(): Promise<void> {
    const { topology: t, options: o } = this.config;
    // First, so a port in use stops `up` before anything else starts, and last to stop, after the
    // workers drained, so a last scrape sees what they finished.
    const metricsServer = await startMetricsServer(
      o,
      { metrics: this.metrics, readiness: () => this.readiness() },
      this.logger,
    );
    if (metricsServer) {
      this.metricsUrl = metricsServer.url;
      this.running.push({ name: "metrics listener", stop: () => metricsServer.stop() });
    }
    // A reading of the stream that hangs (server restarting) must fail soon, so the page and /readyz notice.
    const sampleTimeoutMs = Math.max(2_000, 2 * o.refreshMs);
    const main = await this.open("orderflow-up");
    this.topologyChanges = (
      await retryTimeouts(
        "topology",
        async () =>
          ensureTopology(await jetstreamManager(main), t, {
            server: serverFeatures(main),
            keepReplicas: true,
          }),
        this.logger,
      )
    ).changes;
    for (const c of this.topologyChanges) {
      if (c.kind !== ChangeKind.UpToDate)
        this.logger.info({ object: c.object, change: c.kind }, "topology applied");
    }
    const natsVersion = await readServerVersion(main, await jetstreamManager(main));
    this.serverDescription = describeServerVersion(natsVersion);
    this.serverNotice = olderServerNotice(serverFeatures(main));

    const parts = partsToRun(
      o.parts,
      stagesOf(t).map((st) => st.name),
    );
    const custom = this.config.stages ?? {};
    const files = this.config.handlerFiles ?? {};
    const specs = stagesOf(t).filter((spec) => parts.includes(spec.name));
    const stages = specs.map((spec) => custom[spec.name] ?? pipelineStage(t, spec));
    const stageFiles = specs.map((spec) => files[spec.name]);
    const handlerNames = stageFiles.map(handlerName);
    const workers: StageWorker[] = [];
    for (const [i, stage] of stages.entries()) {
      const nc = await this.open(`orderflow-${stage.name}`);
      this.metrics.recordBuild({
        stage: stage.name,
        handler: stageFiles[i] ?? BUILT_IN_HANDLER_LABEL,
        natsServerVersion: () => nc.info?.version ?? "",
      });
      workers.push(
        await createStageWorker(nc, stage, {
          ...stageTuningOf(o),
          ...this.config.stageTuning?.[stage.name],
          topology: t,
          inboxPrefix: this.config.connect.inboxPrefix,
          // The indexer (a part of this process or another) may answer only after the workers start.
          withoutIndex: WithoutIndex.Hold,
          logger: this.logger,
          handlerFile: stageFiles[i],
          tracing: this.tracing,
        }),
      );
    }
    const views: WorkerView[] = workers.map((w, i) => ({
      stage: w.stage.name,
      consumer: w.stage.consumer,
      handler: handlerNames[i] as string,
      get running() {
        return w.running;
      },
      stats: () => w.stats(),
    }));
    const publish = o.publishForm
      ? new PublishJobs(
          main,
          subjectOf(t, intakeStep(t)),
          this.logger.child({ part: "publish-form" }),
          t.stream,
          this.tracing,
        )
      : undefined;
    const state = new LiveState({
      topology: t,
      connections: this.connections,
      natsDescription: `${this.config.natsDescription} · ${this.serverDescription}`,
      metrics: this.metrics,
      workers: views,
      publish,
      staleAfterMs: 2 * o.refreshMs + sampleTimeoutMs,
    });

    const started: StageWorker[] = [];
    // Both drain at once on stop: each waits out its open pull requests, so one after the other
    // would double the time Ctrl-C takes.
    this.running.push({ name: "stage workers", stop: () => stopAll(started) });
    for (const w of workers) {
      w.on("outcome", (outcome) => state.onOutcome(outcome));
      w.on("handler", (call) => state.onHandlerCall(call));
      w.once("fatal", (err) => this.failed(err));
      await w.start();
      started.push(w);
    }
    if (publish) this.running.push({ name: "publish form jobs", stop: () => publish.stop() });

    const hub = new SseHub(state, { snapshotMs: o.refreshMs }, this.logger);
    // Its own connection: MONITOR has no flow control, and a backlog pushed at once can make the
    // server drop a slow connection; that must never be the one the index and status reads use.
    const feed = new MonitorFeed(await this.open("orderflow-monitor"), t, {
      logger: this.logger.child({ part: "monitor" }),
    });
    feed.on((e) => hub.queue(state.onEvent(e)));
    await retryTimeouts("monitor feed", () => feed.start(), this.logger);
    this.running.push({ name: "monitor feed", stop: () => feed.stop() });
    await retryTimeouts(
      "dead-letter preload",
      () =>
        state.deadLetters.preload(main, t, {
          inboxPrefix: this.config.connect.inboxPrefix,
          logger: this.logger,
        }),
      this.logger,
    );

    if (parts.includes(Part.Indexer)) {
      const indexer = new OrderIndexer(
        main,
        t,
        { inboxPrefix: this.config.connect.inboxPrefix, indexDir: o.indexDir ?? join(o.storeDir, "index") },
        { logger: this.logger.child({ part: "indexer" }) },
      );
      await retryTimeouts("order index", () => indexer.start(), this.logger);
      this.running.push({ name: "order indexer", stop: () => indexer.stop() });
      this.metrics.recordBuild({
        stage: "indexer",
        handler: BUILT_IN_HANDLER_LABEL,
        natsServerVersion: () => main.info?.version ?? "",
      });
      this.metrics.readIndex(() => indexer.stats());
    }

    const sampler = new StatusSampler(
      await retryTimeouts(
        "status reads",
        () => jetstreamManager(main, { timeout: sampleTimeoutMs }),
        this.logger,
      ),
      t,
      { intervalMs: o.refreshMs, windowMs: Math.max(3_000, o.refreshMs * 3) },
      { logger: this.logger.child({ part: "status" }) },
    );
    sampler.on((r) => state.onStatus(r));
    sampler.onError((err) => state.onStatusError(err));
    await retryTimeouts("status sampler", () => sampler.start(), this.logger);
    state.noteReading();
    this.running.push({ name: "status sampler", stop: () => sampler.stop() });

    const app = await buildDashboard({
      state,
      hub,
      metrics: this.metrics,
      publish,
      deadLetters: new DeadLetterActions(main, t, { inboxPrefix: this.config.connect.inboxPrefix }),
      security: {
        token: o.dashboardToken,
        readonlyToken: o.dashboardReadonlyToken,
        allowedHosts: o.allowedHosts,
      },
      logger: this.logger.child({ part: "dashboard" }),
      traceUrl: o.traceUrl,
      lookup: (orderNo) =>
        lookupOrder(
          main,
          t,
          orderNo,
          { inboxPrefix: this.config.connect.inboxPrefix },
          { logger: this.logger },
        ),
    });
    hub.start();
    this.running.push({ name: "live event stream", stop: async () => hub.close() });
    this.state = state;
    const server = await listenDashboard(app, o.host, o.port);
    this.dashboardUrl = server.url;
    this.running.push({ name: "dashboard", stop: () => server.close() });
  }

  /** Stops everything in reverse start order. Idempotent; throws once at the end if any step failed. */
  stop(): Promise<void> {
    this.stopPromise ??= (async () => {
      const problems: string[] = [];
      while (this.running.length > 0) {
        const part = this.running.pop() as Running;
        try {
          await part.stop();
          this.logger.debug(`${part.name} stopped`);
        } catch (err) {
          problems.push(`${part.name}: ${errorMessage(err)}`);
          this.logger.error({ err: errorMessage(err) }, `${part.name} did not stop cleanly`);
        }
      }
      if (problems.length > 0) {
        throw new OrderflowError(
          ErrorCode.Internal,
          `orderflow did not stop cleanly: ${problems.join("; ")}`,
        );
      }
    })();
    return this.stopPromise;
  }
}

function handlerName(file: string | undefined): string {
  return file ? basename(file) : BUILT_IN_HANDLER;
}

async function stopAll(workers: readonly StageWorker[]): Promise<void> {
  const results = await Promise.allSettled(workers.map((w) => w.stop()));
  const failed = results.flatMap((r, i) =>
    r.status === "rejected" ? [`${workers[i]?.stage.name}: ${errorMessage(r.reason)}`] : [],
  );
  if (failed.length > 0) throw new OrderflowError(ErrorCode.Internal, failed.join("; "));
}
