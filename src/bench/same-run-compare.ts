import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "../common/connection.js";
import type { Logger } from "../common/logger.js";
import { NatsServer } from "../common/nats-server.js";
import { finalStep, subjectOf, type TopologyOptions } from "../topology/spec.js";
import type { BenchOptions } from "./bench-options.js";
import { CompletionWatcher } from "./completion-watcher.js";
import { OtlpSink } from "./otlp-sink.js";
import type { BenchResult, TracedPhase } from "./stats.js";
import * as phases from "./throughput-phase.js";
import { readCpuSeconds, WorkerProcess } from "./worker-processes.js";

/** What every extra phase of one bench run shares: the connection, the stream, the options, output. */
export interface RunContext {
  nc: NatsConnection;
  jsm: JetStreamManager;
  t: TopologyOptions;
  o: BenchOptions;
  deps: { progress: phases.BenchProgress; logger: Logger };
  /**
   * Starts fresh worker processes (the run's handler modules, or built-in when told), on `server`,
   * with `env` as their whole environment (default this process's).
   */
  startWorkers: (builtIn: boolean, server?: string, env?: NodeJS.ProcessEnv) => Promise<WorkerProcess[]>;
  /** The server URL(s) the workers were given. */
  server: string;
  /** The pipeline file the run's stages come from, for the indexer too; undefined: the seed's. */
  pipelineFile?: string;
}

interface PhaseResult {
  ms: number;
  ordersPerSec: number;
  exact: boolean;
  /** The workers' CPU seconds (user + system, all of them) over the throughput phase. */
  workerCpuSeconds: number;
  /** The indexer process, when the phase ran one, and its CPU seconds over the throughput phase. */
  indexer?: { process: WorkerProcess; cpuSeconds: number };
}

/**
 * One more throughput phase of the same run on a fresh stream with fresh workers, after a warm-up
 * (`warm`: true for the measured phase's `phases.WARM_UP_ORDERS`, false for none, or how many
 * orders), and with an `orderflow indexer` reading the stream when `indexDir` is given; counts
 * verified from the stream.
 */
async function freshPhase(
  c: RunContext,
  builtIn: boolean,
  warm: boolean | number,
  indexDir?: string,
  workerEnv?: NodeJS.ProcessEnv,
): Promise<PhaseResult> {
  const warmUpOrders = warm === true ? phases.WARM_UP_ORDERS : warm === false ? 0 : warm;
  await phases.freshTopology(c.jsm, c.t);
  const workers = await c.startWorkers(builtIn, c.server, workerEnv);
  const ix = indexDir
    ? new WorkerProcess("indexer", c.server, [
        ...["--index-dir", indexDir, "--stream", c.t.stream],
        ...(c.pipelineFile ? ["--config", resolve(c.pipelineFile)] : []),
      ])
    : undefined;
  const watcher = new CompletionWatcher(c.nc, c.jsm, c.t.stream, subjectOf(c.t, finalStep(c.t)));
  try {
    await ix?.started();
    await watcher.start();
    if (warmUpOrders > 0) await phases.warmUp(c.nc, watcher, c.t, c.o, warmUpOrders);
    const pid = ix?.child.pid;
    const cpu0 = pid ? await readCpuSeconds(pid) : 0;
    const workersCpu0 = await workersCpuSeconds(workers);
    const throughput = await phases.measureThroughput(c.nc, watcher, c.t, c.o, c.deps, undefined);
    const workersCpu1 = await workersCpuSeconds(workers);
    const cpu1 = pid ? await readCpuSeconds(pid) : 0;
    await ix?.sample();
    const verified = await phases.verify(c.jsm, c.t, c.o.orders + warmUpOrders);
    return {
      ms: throughput.ms,
      ordersPerSec: throughput.ordersPerSec,
      exact: verified.exact,
      workerCpuSeconds: workersCpu1 - workersCpu0,
      ...(ix ? { indexer: { process: ix, cpuSeconds: cpu1 - cpu0 } } : {}),
    };
  } finally {
    await watcher.stop();
    await Promise.all([...workers, ...(ix ? [ix] : [])].map((w) => w.stop()));
  }
}

/**
 * `--compare-built-in`: the throughput phase once more with the built-in stages, so a handler module
 * is judged against the built-in transformation on the same server under the same load.
 */
export async function measureBuiltIn(
  c: RunContext,
  handlerOrdersPerSec: number,
): Promise<NonNullable<BenchResult["builtIn"]>> {
  const p = await freshPhase(c, true, c.o.rate > 0 && c.o.latencyOrders > 0);
  return {
    orders: c.o.orders,
    ms: p.ms,
    ordersPerSec: p.ordersPerSec,
    exact: p.exact,
    handlerRatio: handlerOrdersPerSec / p.ordersPerSec,
  };
}

/**
 * `--compare-index`: the throughput phase twice more, after the same warm-up: without, then with an
 * `orderflow indexer` process (its index on disk in a temp directory) reading the stream, so the
 * index's cost to the pipeline is one ratio from one run.
 */
export async function measureIndexCost(c: RunContext): Promise<NonNullable<BenchResult["index"]>> {
  const without = await freshPhase(c, false, true);
  const dir = await mkdtemp(join(tmpdir(), "orderflow-bench-index-"));
  try {
    const withIndex = await freshPhase(c, false, true, dir);
    const { ms, ordersPerSec, exact } = withIndex;
    return {
      orders: c.o.orders,
      without: { ms: without.ms, ordersPerSec: without.ordersPerSec, exact: without.exact },
      with: { ms, ordersPerSec, exact },
      ratio: ordersPerSec / without.ordersPerSec,
      indexerCpuUsPerOrder: ((withIndex.indexer?.cpuSeconds ?? 0) * 1e6) / c.o.orders,
      indexerPeakRssMb: withIndex.indexer?.process.peakRssMb ?? 0,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * `--compare-sync`: the throughput phase on a fresh stream of the bench's server (the default
 * sync_interval, every 2 minutes), then on a second server of the same binary with
 * `sync_interval: always`: what durability against power loss costs, as one ratio from one run.
 */
export async function measureSyncCost(c: RunContext): Promise<NonNullable<BenchResult["sync"]>> {
  const def = await freshPhase(c, false, false);
  const server = await NatsServer.start({ maxFileStore: "16G", syncInterval: "always" });
  try {
    const nc = await connect({ servers: [server.url], name: "orderflow-bench-sync" });
    try {
      const always = await freshPhase(
        { ...c, nc, jsm: await jetstreamManager(nc), server: server.url },
        false,
        false,
      );
      const pick = (p: PhaseResult) => ({ ms: p.ms, ordersPerSec: p.ordersPerSec, exact: p.exact });
      return {
        orders: c.o.orders,
        default: pick(def),
        always: pick(always),
        ratio: always.ordersPerSec / def.ordersPerSec,
      };
    } finally {
      await nc.close();
    }
  } finally {
    await server.cleanup();
  }
}

/** Two runs of one phase as one: all orders over all time, all CPU over all orders. */
function together(a: TracedPhase, b: TracedPhase, orders: number): TracedPhase {
  const ms = a.ms + b.ms;
  return {
    sampled: a.sampled,
    runs: a.runs + b.runs,
    ms,
    ordersPerSec: ((a.runs + b.runs) * orders * 1000) / ms,
    runOrdersPerSec: [...a.runOrdersPerSec, ...b.runOrdersPerSec],
    exact: a.exact && b.exact,
    cpuUsPerOrder: (a.cpuUsPerOrder * a.runs + b.cpuUsPerOrder * b.runs) / (a.runs + b.runs),
    exportRequests: a.exportRequests + b.exportRequests,
    exportBytes: a.exportBytes + b.exportBytes,
  };
}

/** CPU seconds the workers have used so far, all together (0 for one that has no pid). */
async function workersCpuSeconds(workers: readonly WorkerProcess[]): Promise<number> {
  const each = await Promise.all(workers.map((w) => (w.child.pid ? readCpuSeconds(w.child.pid) : 0)));
  return each.reduce((a, b) => a + b, 0);
}

/**
 * The environment of `bench --otel`'s workers: this process's without any OTEL_* variable (so the
 * untraced phase is untraced whatever the shell says), plus, when `sampled` is given, tracing on:
 * OTLP/HTTP to `endpoint` and a parent-based trace-id ratio sampler (the processor starts each
 * order's trace and samples it at `sampled`; the dispatcher follows the processor's decision, carried
 * in the traceparent header).
 */
function otelEnv(sampled?: { ratio: number; endpoint: string }): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("OTEL_")));
  if (!sampled) return env;
  return {
    ...env,
    OTEL_EXPORTER_OTLP_ENDPOINT: sampled.endpoint,
    OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
    OTEL_TRACES_SAMPLER_ARG: String(sampled.ratio),
  };
}

/** The warm-up of each `--otel` phase. */
const TRACED_WARM_UP_ORDERS = 10 * phases.WARM_UP_ORDERS;

/**
 * `--otel`: the throughput phase five times more, on fresh streams with fresh workers, each after a
 * warm-up: tracing off, 1% sampled, 1% again, off again, then every order sampled. Off and 1% (the
 * comparison the target is stated on) run twice, in that ABBA order, because this kind of machine
 * drifts over a run by more than the difference being measured; each is reported over its two runs.
 * The bench's own load generator is not traced: the processor starts each order's trace, so the
 * figures are the workers' cost.
 */
export async function measureOtelCost(c: RunContext): Promise<NonNullable<BenchResult["otel"]>> {
  const sink = new OtlpSink();
  const endpoint = await sink.start();
  try {
    // Each phase after a warm-up of its own, as --compare-index's: fresh workers would otherwise
    // spend the phase compiling their code (the SDK's more than the rest), and that is not the
    // steady cost of tracing. Ten times the usual warm-up, for every phase alike: at 1% the usual
    // one samples about 20 orders, too few for V8 to compile the sampled path, which then compiled
    // inside the timed phase (a worker draining 400,000 stored orders showed 1% sampled at 1.06×
    // the cost of sampling none once warm, against 1.22× over its first 100,000).
    const warm = TRACED_WARM_UP_ORDERS;
    const run = async (ratio: number): Promise<TracedPhase> => {
      const before = sink.counts();
      const p = await freshPhase(
        c,
        false,
        warm,
        undefined,
        otelEnv(ratio > 0 ? { ratio, endpoint } : undefined),
      );
      // The workers have exited (their last batch exported on the way out): the sink's counts are whole.
      const after = sink.counts();
      return {
        sampled: ratio,
        runs: 1,
        ms: p.ms,
        ordersPerSec: p.ordersPerSec,
        runOrdersPerSec: [p.ordersPerSec],
        exact: p.exact,
        cpuUsPerOrder: (p.workerCpuSeconds * 1e6) / c.o.orders,
        exportRequests: after.requests - before.requests,
        exportBytes: after.bytes - before.bytes,
      };
    };
    const off1 = await run(0);
    const onePercent1 = await run(0.01);
    const onePercent2 = await run(0.01);
    const off2 = await run(0);
    const all = await run(1);
    const off = together(off1, off2, c.o.orders);
    const onePercent = together(onePercent1, onePercent2, c.o.orders);
    return {
      orders: c.o.orders,
      off,
      all,
      onePercent,
      allRatio: all.ordersPerSec / off.ordersPerSec,
      onePercentRatio: onePercent.ordersPerSec / off.ordersPerSec,
    };
  } finally {
    await sink.stop();
  }
}
