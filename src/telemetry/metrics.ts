import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { callbackErrorCounts } from "../common/callback-guard.js";
import type { ConnectionState } from "../common/connection-state.js";
import { VERSION } from "../common/version.js";
import type { StageOrOther } from "../stages/order-key.js";
import { type HandlerCall, type Outcome, OutcomeKind } from "../stages/stage-worker.js";
import type { ConsumerSample, StatusSample } from "../status/collect.js";
import { Stage } from "../topology/spec.js";

/** The seed's steps, the default {@link MetricsScope.steps}. */
const SEED_STEPS: readonly string[] = [Stage.Received, Stage.Processed, Stage.Completed];

/** What runs in this process: one `orderflow_build_info` series per stage (the indexer counts as one). */
export interface BuildInfo {
  /** `processor`, `dispatcher` or `indexer`. */
  stage: string;
  /** The handler module as given (`--handler`), or "built-in". */
  handler: string;
  /** The version of the nats-server connected now (read at each scrape: a reconnect may change it). */
  natsServerVersion: () => string;
}

/** Series read from the stream, the status sample and the MONITOR feed: `up` has them, a worker not. */
const PIPELINE_SERIES = [
  "stream_messages",
  "pipeline_end_messages",
  "dead_letters_unreplayed",
  "order_e2e_latency_seconds",
  "monitor_events_total",
];
/** Series of the order index: a process that runs the indexer has them. */
const INDEX_SERIES = ["index_indexed_through", "index_orders"];

/** Which series a process exports besides the stage, consumer, connection and build series. */
export interface MetricsScope {
  /** Process metrics (CPU, memory, event loop). Default true. */
  processMetrics?: boolean;
  /** The series of the stream, status sample and MONITOR feed (`up`). Default true. */
  pipeline?: boolean;
  /** The order index gauges (`indexer`, `up` with the indexer part). Default true. */
  index?: boolean;
  /**
   * The pipeline's steps in order (stepsOf), whose stream counts start at 0 before the first
   * reading. Default the seed's: received, processed, completed.
   */
  steps?: readonly string[];
}

/** The handler label of a stage that runs orderflow's own transformation. */
export const BUILT_IN_HANDLER_LABEL = "built-in";

/** Every metric orderflow exports starts with this. */
export const METRIC_PREFIX = "orderflow_";

/** Stage latencies span sub-millisecond acks to retries after backoff. Seconds. */
const STAGE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Handlers range from in-memory work to calls of slow services, up to the 1 h timeout cap. Seconds. */
const HANDLER_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/** End to end includes backlogs and outages. Seconds. */
const E2E_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];

/**
 * Every Prometheus metric of orderflow, defined once, in one registry per process (so tests and
 * several systems in one process do not collide). Served at /metrics.
 */
export class OrderflowMetrics {
  readonly registry = new Registry();

  private readonly processed = this.counter(
    "stage_processed_total",
    "Orders a stage completed: output published (PubAck received) and input acked.",
    ["stage"],
  );
  private readonly deadLettered = this.counter(
    "stage_dead_lettered_total",
    "Orders a stage gave up on and published to the failed subject.",
    ["stage"],
  );
  private readonly deadLettersUnreplayed = this.gauge(
    "dead_letters_unreplayed",
    "Dead letters stored whose replay has not finished: failures still to act on (a replayed order that fails again is a new one). From the status sample.",
    [],
  );
  private readonly retried = this.counter(
    "stage_retried_total",
    "Deliveries a stage nak'ed for a later retry (handler errors and infrastructure trouble).",
    ["stage"],
  );
  private readonly stageLatency = new Histogram({
    name: `${METRIC_PREFIX}stage_latency_seconds`,
    help: "Time from a stage receiving an order to acking (or nak'ing) it, by stage and outcome.",
    labelNames: ["stage", "outcome"],
    buckets: STAGE_BUCKETS,
    registers: [this.registry],
  });
  private readonly e2eLatency = new Histogram({
    name: `${METRIC_PREFIX}order_e2e_latency_seconds`,
    help: "Time from an order stored on the received subject to its completion stored, from the stream's timestamps (orders seen by the MONITOR feed).",
    buckets: E2E_BUCKETS,
    registers: [this.registry],
  });
  private readonly handlerDuration = new Histogram({
    name: `${METRIC_PREFIX}handler_duration_seconds`,
    help: "Time an async handler call took, from its start to its result, error, timeout or abort on stop, by stage (synchronous handlers, the built-ins among them, are not timed).",
    labelNames: ["stage"],
    buckets: HANDLER_BUCKETS,
    registers: [this.registry],
  });
  private readonly handlerTimeouts = this.counter(
    "handler_timeouts_total",
    "Handler calls given up on at --handler-timeout (aborted and counted as a failed attempt).",
    ["stage"],
  );
  /** Where the in-progress gauge reads its values at each scrape (set by whoever runs the workers). */
  private handlersRunningNow: () => ReadonlyArray<{ stage: string; running: number }> = () => [];
  /** Public only so nothing flags it unused: prom-client reads it through the registry. */
  readonly handlersRunning = (() => {
    const read = () => this.handlersRunningNow();
    return new Gauge({
      name: `${METRIC_PREFIX}handlers_in_progress`,
      help: "Handler calls running now, by stage.",
      labelNames: ["stage"],
      registers: [this.registry],
      collect() {
        for (const { stage, running } of read()) this.set({ stage }, running);
      },
    });
  })();
  private readonly streamMessages = this.gauge(
    "stream_messages",
    "Messages stored in the stream per stage subject.",
    ["stage"],
  );
  private readonly pipelineEnds = this.gauge(
    "pipeline_end_messages",
    "Messages stored on the pipeline's first step (end=intake) and last step (end=final), whatever the steps are named: what the completion alert compares.",
    ["end", "stage"],
  );
  private readonly pending = this.gauge(
    "consumer_pending",
    "Messages a pull consumer has not delivered yet (backlog).",
    ["consumer"],
  );
  private readonly ackPending = this.gauge(
    "consumer_ack_pending",
    "Messages a pull consumer delivered that are not acked yet.",
    ["consumer"],
  );
  private readonly redelivered = this.gauge(
    "consumer_redelivered",
    "Messages a pull consumer is redelivering now.",
    ["consumer"],
  );
  private readonly waiting = this.gauge(
    "consumer_waiting_pulls",
    "Pull requests waiting on the server: workers with room for more.",
    ["consumer"],
  );
  private readonly connected = this.gauge(
    "nats_connected",
    "1 while the connection is connected to a NATS server, 0 while it is reconnecting or closed.",
    ["connection"],
  );
  private readonly monitorEvents = this.counter(
    "monitor_events_total",
    "Events received from the MONITOR push consumer (at-most-once: for watching, not for counting orders).",
    ["stage"],
  );
  private readonly statusErrors = this.counter(
    "status_sample_errors_total",
    "Failed reads of the stream and consumer state (server down, timeouts).",
    [],
  );

  private readonly builds: BuildInfo[] = [];
  /** Public only so nothing flags it unused: prom-client reads it through the registry. */
  readonly buildInfo = (() => {
    const builds = this.builds;
    return new Gauge({
      name: `${METRIC_PREFIX}build_info`,
      help: "1 per stage run in the process, labelled with orderflow's version, the stage, its handler module and the connected nats-server's version.",
      labelNames: ["version", "stage", "handler", "nats_server_version"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const b of builds) {
          this.set(
            {
              version: VERSION,
              stage: b.stage,
              handler: b.handler,
              nats_server_version: b.natsServerVersion(),
            },
            1,
          );
        }
      },
    });
  })();
  /** Where the index gauges read their values at each scrape (set by the process running the indexer). */
  private indexNow: (() => { orders: number; indexedThrough: number }) | undefined;
  /** Public only so nothing flags it unused: prom-client reads it through the registry. */
  readonly indexedThrough = (() => {
    const read = () => this.indexNow?.();
    return new Gauge({
      name: `${METRIC_PREFIX}index_indexed_through`,
      help: "The stream sequence the order index has read and written through (compare with the stream's last sequence for its lag).",
      registers: [this.registry],
      collect() {
        const now = read();
        if (now) this.set(now.indexedThrough);
      },
    });
  })();
  /** Public only so nothing flags it unused: prom-client reads it through the registry. */
  readonly indexOrders = (() => {
    const read = () => this.indexNow?.();
    return new Gauge({
      name: `${METRIC_PREFIX}index_orders`,
      help: "Orders the order index knows.",
      registers: [this.registry],
      collect() {
        const now = read();
        if (now) this.set(now.orders);
      },
    });
  })();
  /** Readings taken when Prometheus scrapes, before the text is made (a worker's consumer info). */
  private readonly scrapeReads: Array<() => Promise<void>> = [];

  /** Public only so nothing flags it unused: prom-client reads it through the registry. */
  readonly callbackErrors = new Counter({
    name: `${METRIC_PREFIX}callback_errors_total`,
    help: "Failures caught in callbacks of the NATS client and timers (a throw there would stop the connection's reader), by part. Anything above 0 is a bug to report.",
    labelNames: ["part"],
    registers: [this.registry],
    collect() {
      // The counts live in common/callback-guard.ts, process-wide: copy them at each scrape.
      this.reset();
      for (const [part, n] of callbackErrorCounts()) this.inc({ part }, n);
    },
  });

  constructor(scope: MetricsScope = {}) {
    const { processMetrics = true, pipeline = true, index = true, steps = SEED_STEPS } = scope;
    if (processMetrics) collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
    for (const s of [...steps, Stage.Failed]) this.streamMessages.set({ stage: s }, 0);
    this.pipelineEnds.set({ end: "intake", stage: steps[0] ?? Stage.Received }, 0);
    this.pipelineEnds.set({ end: "final", stage: steps[steps.length - 1] ?? Stage.Completed }, 0);
    // A series a process cannot know is left out rather than exported as a misleading 0.
    const leftOut = [...(pipeline ? [] : PIPELINE_SERIES), ...(index ? [] : INDEX_SERIES)];
    for (const name of leftOut) this.registry.removeSingleMetric(`${METRIC_PREFIX}${name}`);
  }

  private counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    return new Counter({ name: `${METRIC_PREFIX}${name}`, help, labelNames, registers: [this.registry] });
  }

  private gauge<L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> {
    return new Gauge({ name: `${METRIC_PREFIX}${name}`, help, labelNames, registers: [this.registry] });
  }

  /** Adds the `orderflow_build_info` series of one stage run in this process. */
  recordBuild(build: BuildInfo): void {
    this.builds.push(build);
  }

  /** Where the index gauges are read from at each scrape (the process that runs the indexer). */
  readIndex(read: () => { orders: number; indexedThrough: number }): void {
    this.indexNow = read;
  }

  /**
   * A reading to take at each scrape, before the text is made. It records what it reads through
   * this object and handles its own failures (a scrape must not fail because NATS is away).
   */
  readOnScrape(read: () => Promise<void>): void {
    this.scrapeReads.push(read);
  }

  /** Makes a stage's counters appear (at 0) before its first order. */
  registerStage(stage: string): void {
    for (const c of [this.processed, this.deadLettered, this.retried, this.handlerTimeouts])
      c.inc({ stage }, 0);
  }

  /** Where `handlers_in_progress` is read from at each scrape. */
  readHandlersRunning(read: () => ReadonlyArray<{ stage: string; running: number }>): void {
    this.handlersRunningNow = read;
  }

  recordHandlerCall(c: HandlerCall): void {
    this.handlerDuration.observe({ stage: c.stage }, c.durationMs / 1000);
    if (c.timedOut) this.handlerTimeouts.inc({ stage: c.stage });
  }

  recordOutcome(o: Outcome): void {
    const labels = { stage: o.stage };
    if (o.kind === OutcomeKind.Done) this.processed.inc(labels);
    else if (o.kind === OutcomeKind.DeadLettered) this.deadLettered.inc(labels);
    else this.retried.inc(labels);
    this.stageLatency.observe({ stage: o.stage, outcome: o.kind }, o.latencyMs / 1000);
  }

  recordE2e(ms: number): void {
    this.e2eLatency.observe(ms / 1000);
  }

  recordMonitorEvent(stage: StageOrOther): void {
    this.monitorEvents.inc({ stage });
  }

  recordStatus(sample: StatusSample): void {
    for (const [s, n] of Object.entries(sample.subjects)) this.streamMessages.set({ stage: s }, n);
    // The sample's subjects are the steps in order, then `failed`.
    const steps = Object.keys(sample.subjects).filter((s) => s !== Stage.Failed);
    const [intake, final] = [steps[0], steps[steps.length - 1]];
    if (intake !== undefined && final !== undefined) {
      this.pipelineEnds.reset();
      this.pipelineEnds.set({ end: "intake", stage: intake }, sample.subjects[intake] ?? 0);
      this.pipelineEnds.set({ end: "final", stage: final }, sample.subjects[final] ?? 0);
    }
    this.deadLettersUnreplayed.set(sample.unreplayedDeadLetters);
    for (const c of Object.values(sample.consumers)) this.recordConsumer(c);
  }

  recordStatusError(): void {
    this.statusErrors.inc();
  }

  /** A consumer's backlog gauges (from a status sample, or a worker's read of its own consumer). */
  recordConsumer(c: ConsumerSample): void {
    const labels = { consumer: c.name };
    this.pending.set(labels, c.numPending);
    this.ackPending.set(labels, c.numAckPending);
    this.redelivered.set(labels, c.numRedelivered);
    this.waiting.set(labels, c.numWaiting);
  }

  /** Drops a consumer's gauges: no value is better than a stale one when it cannot be read. */
  forgetConsumer(name: string): void {
    for (const g of [this.pending, this.ackPending, this.redelivered, this.waiting])
      g.remove({ consumer: name });
  }

  recordConnection(state: ConnectionState): void {
    this.connected.set({ connection: state.name }, state.connected ? 1 : 0);
  }

  /** The Prometheus text exposition, after the readings taken at each scrape. */
  async text(): Promise<string> {
    await Promise.all(this.scrapeReads.map((read) => read()));
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
