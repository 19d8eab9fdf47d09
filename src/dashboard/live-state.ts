import type { ConnectionState, ConnectionStates } from "../common/connection-state.js";
import { errorMessage, OrderflowError } from "../common/errors.js";
import type { OrderEvent } from "../monitor/order-event.js";
import type { StageOrOther } from "../stages/order-key.js";
import type { HandlerCall, Outcome, StageStats } from "../stages/stage-worker.js";
import { type StatusReport, VERDICT_TEXT, type Verdict, Verdict as VerdictKind } from "../status/assess.js";
import { type ConsumerSample, sampledSubjects } from "../status/collect.js";
import { assessSystemReadiness, type Readiness, type SystemCheck } from "../telemetry/health.js";
import type { OrderflowMetrics } from "../telemetry/metrics.js";
import { finalStep, intakeStep, stagesOf, stepsOf, type TopologyOptions } from "../topology/spec.js";
import { DeadLetterLog, type DeadLetterRow } from "./dead-letters.js";
import { E2eLatencyTracker } from "./e2e-latency.js";
import { type LatencySummary, LatencyWindow } from "./latency-window.js";
import type { PublishJob, PublishJobs } from "./publish-jobs.js";
import { type ChartPoint, ThroughputHistory } from "./throughput-history.js";

/** A stage worker of this process, as the page and /readyz see it. */
export interface WorkerView {
  stage: string;
  consumer: string;
  running: boolean;
  /** What the stage runs: the handler module's file name, or "seed built-in". */
  handler: string;
  stats(): StageStats;
}

/** One order event for the page's feed. */
export interface FeedEvent {
  seq: number;
  time: string;
  stage: StageOrOther;
  orderNo: string | null;
  payload: string;
  reason?: string;
}

export interface ConsumerView {
  name: string;
  /** The stage it feeds: `processor` for NEW, `validator` for VALIDATE. */
  feeds: string;
  pending: number;
  ackPending: number;
  redelivered: number;
  waiting: number;
  deliveredPerSecond: number;
  /** Workers of this process on it (others, elsewhere, show as waiting pulls). */
  workersHere: number;
}

/** The pipeline as the page draws it: a box per step, a consumer card per stage, in order. */
export interface PipelineView {
  /** Every step's subject token, in order: `received`, `processed`, `completed` for the seed. */
  steps: string[];
  stages: Array<{ name: string; consumer: string; input: string; output: string }>;
}

/** Everything the page shows, sent every refresh over server-sent events. */
export interface DashboardSnapshot {
  at: number;
  stream: string;
  subjectPrefix: string;
  pipeline: PipelineView;
  nats: { connected: boolean; description: string; connections: ConnectionState[] };
  ready: Readiness<SystemCheck>;
  /** Why the last read of the stream failed, if it did. */
  statusError: string | null;
  /** Messages stored and per second, per step token and `failed`. */
  stages: Record<string, { count: number; perSecond: number }> | null;
  consumers: ConsumerView[] | null;
  verdict: { kind: Verdict; text: string; findings: string[] } | null;
  latency: { e2e: LatencySummary; stages: Record<string, LatencySummary> };
  workers: Array<{ stage: string; consumer: string; running: boolean; handler: string } & StageStats>;
  monitorEvents: number;
  deadLetters: DeadLetterRow[];
  publish: { enabled: boolean; jobs: PublishJob[] };
  /** The newest chart points; the page appends those it does not have yet. */
  chart: ChartPoint[];
}

const PAYLOAD_SHOWN = 200;
const RECENT_EVENTS = 100;

export interface LiveStateDeps {
  topology: TopologyOptions;
  connections: ConnectionStates;
  /** Where NATS is, in one line (redacted). */
  natsDescription: string;
  metrics: OrderflowMetrics;
  workers: readonly WorkerView[];
  publish: PublishJobs | undefined;
  /**
   * A reading of the stream older than this does not count for /readyz: while a request hangs
   * (server restarting), the last good reading is stale, not proof the topology is there.
   */
  staleAfterMs: number;
}

/**
 * The dashboard's picture of the pipeline, fed by the status sampler (counts, rates, backlogs,
 * verdict), the MONITOR feed (events, dead letters, end-to-end latency) and the in-process workers
 * (stage latency). It also feeds the metrics, so the page and /metrics never disagree.
 */
export class LiveState {
  private report: StatusReport | undefined;
  private statusProblem: string | undefined;
  /** When the last reading succeeded (start() took one before the state existed: count from now). */
  private lastReadingAt = Date.now();
  private readonly history: ThroughputHistory;
  private readonly pipeline: PipelineView;
  private readonly e2eWindow = new LatencyWindow();
  private readonly stageWindows = new Map<string, LatencyWindow>();
  private readonly e2e: E2eLatencyTracker;
  readonly deadLetters = new DeadLetterLog();
  private readonly recent: FeedEvent[] = [];
  private monitorEvents = 0;

  constructor(private readonly deps: LiveStateDeps) {
    const t = deps.topology;
    this.history = new ThroughputHistory(undefined, sampledSubjects(t));
    this.pipeline = {
      steps: stepsOf(t),
      stages: stagesOf(t).map((s) => ({
        name: s.name,
        consumer: s.consumer,
        input: s.input,
        output: s.output,
      })),
    };
    this.e2e = new E2eLatencyTracker(
      (ms) => {
        this.e2eWindow.add(ms);
        deps.metrics.recordE2e(ms);
      },
      undefined,
      { intake: intakeStep(t), final: finalStep(t) },
    );
    for (const w of deps.workers) {
      this.stageWindows.set(w.stage, new LatencyWindow());
      deps.metrics.registerStage(w.stage);
    }
    deps.metrics.readHandlersRunning(() =>
      deps.workers.map((w) => ({ stage: w.stage, running: w.stats().handlersRunning })),
    );
    deps.connections.on((s) => deps.metrics.recordConnection(s));
    for (const s of deps.connections.all()) deps.metrics.recordConnection(s);
  }

  onStatus(report: StatusReport): void {
    this.report = report;
    this.statusProblem = undefined;
    this.lastReadingAt = Date.now();
    this.history.add(report.sample);
    this.deps.metrics.recordStatus(report.sample);
  }

  /** A good reading taken outside the sampler's reports (its first, in start()). */
  noteReading(): void {
    this.statusProblem = undefined;
    this.lastReadingAt = Date.now();
  }

  onStatusError(err: unknown): void {
    this.statusProblem = err instanceof OrderflowError ? err.oneLine() : errorMessage(err);
    this.history.gap();
    this.deps.metrics.recordStatusError();
  }

  onOutcome(o: Outcome): void {
    this.deps.metrics.recordOutcome(o);
    this.stageWindows.get(o.stage)?.add(o.latencyMs);
  }

  onHandlerCall(c: HandlerCall): void {
    this.deps.metrics.recordHandlerCall(c);
  }

  /** Returns the event as the page shows it. */
  onEvent(e: OrderEvent): FeedEvent {
    this.monitorEvents++;
    this.deps.metrics.recordMonitorEvent(e.stage);
    this.e2e.onEvent(e);
    this.deadLetters.onEvent(e);
    const fe: FeedEvent = {
      seq: e.seq,
      time: e.time.toISOString(),
      stage: e.stage,
      orderNo: e.orderNo ?? null,
      payload: e.payload.length > PAYLOAD_SHOWN ? `${e.payload.slice(0, PAYLOAD_SHOWN)}…` : e.payload,
    };
    if (e.deadLetter?.reason) fe.reason = e.deadLetter.reason;
    this.recent.push(fe);
    if (this.recent.length > RECENT_EVENTS) this.recent.shift();
    return fe;
  }

  /** The newest events, newest last (what a page that just connected shows first). */
  recentEvents(): FeedEvent[] {
    return [...this.recent];
  }

  chartHistory(): ChartPoint[] {
    return this.history.all();
  }

  readiness(): Readiness<SystemCheck> {
    const inProcess = new Set(this.deps.workers.map((w) => w.consumer));
    // A consumer with orders waiting and nobody pulling, or with nobody pulling at all: either way
    // no stage worker is there (those of this process are judged by their own state instead).
    const unattended = (this.report?.findings ?? []).flatMap((f) => {
      const consumers =
        f.kind === VerdictKind.NoWorkers && f.consumer
          ? [f.consumer]
          : f.kind === VerdictKind.Idle
            ? (f.consumers ?? [])
            : [];
      const elsewhere = consumers.filter((c) => !inProcess.has(c));
      if (elsewhere.length === 0) return [];
      return [f.kind === VerdictKind.Idle ? `no workers on ${elsewhere.join(", ")}` : f.message];
    });
    const age = Date.now() - this.lastReadingAt;
    const stale =
      age > this.deps.staleAfterMs
        ? `no reading of stream ${this.deps.topology.stream} for ${(age / 1000).toFixed(1)}s`
        : undefined;
    return assessSystemReadiness({
      connections: this.deps.connections.all(),
      topologyProblem: this.statusProblem ?? stale,
      workers: this.deps.workers.map((w) => ({ stage: w.stage, running: w.running })),
      unattended,
    });
  }

  snapshot(): DashboardSnapshot {
    const t = this.deps.topology;
    const r = this.report;
    const connections = this.deps.connections.all();
    const latencyStages: Record<string, LatencySummary> = {};
    for (const [stage, w] of this.stageWindows) latencyStages[stage] = w.summary();
    return {
      at: Date.now(),
      stream: t.stream,
      subjectPrefix: t.subjectPrefix,
      pipeline: this.pipeline,
      nats: {
        connected: this.deps.connections.allConnected(),
        description: this.deps.natsDescription,
        connections,
      },
      ready: this.readiness(),
      statusError: this.statusProblem ?? null,
      stages: r
        ? Object.fromEntries(
            Object.entries(r.sample.subjects).map(([s, count]) => [s, { count, perSecond: r.rates[s] ?? 0 }]),
          )
        : null,
      consumers: r ? Object.keys(r.sample.consumers).map((key) => this.consumerView(r, key)) : null,
      verdict: r
        ? { kind: r.verdict, text: VERDICT_TEXT[r.verdict], findings: r.findings.map((f) => f.message) }
        : null,
      latency: { e2e: this.e2eWindow.summary(), stages: latencyStages },
      workers: this.deps.workers.map((w) => ({
        stage: w.stage,
        consumer: w.consumer,
        running: w.running,
        handler: w.handler,
        ...w.stats(),
      })),
      monitorEvents: this.monitorEvents,
      deadLetters: this.deadLetters.list(),
      publish: { enabled: this.deps.publish !== undefined, jobs: this.deps.publish?.list() ?? [] },
      chart: this.history.all().slice(-5),
    };
  }

  private consumerView(r: StatusReport, key: string): ConsumerView {
    const c = r.sample.consumers[key] as ConsumerSample;
    return {
      name: c.name,
      feeds: c.stage ?? c.name,
      pending: c.numPending,
      ackPending: c.numAckPending,
      redelivered: c.numRedelivered,
      waiting: c.numWaiting,
      deliveredPerSecond: r.consumerRates[key]?.deliveredPerSecond ?? 0,
      workersHere: this.deps.workers.filter((w) => w.consumer === c.name && w.running).length,
    };
  }
}
