import { cpus, platform, release, totalmem } from "node:os";
import { basename } from "node:path";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { type ConnectOptions, connect } from "../common/connection.js";
import { BenchInterruptedError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { NatsServer } from "../common/nats-server.js";
import { findStream } from "../topology/read.js";
import {
  finalStep,
  intakeStep,
  Stage,
  streamConfig,
  subjectOf,
  type TopologyOptions,
} from "../topology/spec.js";
import type { BenchOptions } from "./bench-options.js";
import {
  type BenchPipelineFile,
  benchPipeline,
  seedWorkerLaunches,
  stageWorkerLaunches,
} from "./bench-pipeline.js";
import { CompletionWatcher } from "./completion-watcher.js";
import { cpuPerOrder, cpuSnapshot } from "./cpu-per-order.js";
import { publishRun } from "./order-publisher.js";
import {
  measureBuiltIn,
  measureIndexCost,
  measureOtelCost,
  measureSyncCost,
  type RunContext,
} from "./same-run-compare.js";
import {
  buildSeedWorker,
  SeedProgram,
  type SeedWorker,
  startSeedWorker,
  waitUntilPulling,
} from "./seed-go.js";
import { type BenchResult, type Percentiles, percentiles, rate } from "./stats.js";
import {
  type BenchProgress,
  FIRST_ORDER,
  freshTopology,
  measureThroughput,
  verify,
  WARM_UP_ORDERS,
  warmUp,
} from "./throughput-phase.js";
import { WorkerProcess } from "./worker-processes.js";

export type { BenchProgress } from "./throughput-phase.js";

export interface BenchDeps {
  /** Server URLs; undefined = start a managed nats-server with a fresh store. */
  connect?: ConnectOptions;
  topology: TopologyOptions;
  logger: Logger;
  progress: BenchProgress;
  command: string;
  signal: AbortSignal;
  /**
   * The pipeline file whose declared stages the workers run, one process each; undefined: the
   * seed's processors and dispatchers. Its options are checked first (pipelineOptionsProblem).
   */
  pipeline?: BenchPipelineFile;
}

/**
 * Runs the benchmark phases in order: raw ingest bound (publish only), end-to-end throughput with the
 * real worker processes, then latency at a fixed offered rate; verifies counts from the stream.
 */
export async function runBench(o: BenchOptions, deps: BenchDeps): Promise<BenchResult> {
  // Build the seed's Go workers before anything runs: a missing seed or Go toolchain then fails in
  // one line at once, not after minutes of benchmarking, and the build time stays out of the figures.
  if (o.compareSeed > 0) {
    await Promise.all([buildSeedWorker(SeedProgram.Processed), buildSeedWorker(SeedProgram.Completed)]);
  }
  const managed = deps.connect ? undefined : await NatsServer.start({ maxFileStore: "16G" });
  const connectOptions: ConnectOptions = deps.connect ?? {
    servers: [managed?.url ?? ""],
    name: "orderflow-bench",
  };
  const nc = await connect(connectOptions);
  const workers: WorkerProcess[] = [];
  try {
    const jsm = await jetstreamManager(nc);
    const t = deps.topology;
    const result: BenchResult = {
      machine: machine(),
      server: { version: nc.info?.version ?? "unknown", managed: managed !== undefined },
      settings: {
        orders: o.orders,
        ...(deps.pipeline
          ? { pipeline: benchPipeline(t, o, deps.pipeline), rateLimits: o.rateLimits }
          : { processors: o.processors, dispatchers: o.dispatchers }),
        batch: o.batch,
        maxInFlight: o.maxInFlight,
        rate: o.rate,
        latencyOrders: o.rate > 0 ? o.latencyOrders : 0,
        ...(o.processorHandler || o.dispatcherHandler
          ? {
              handlers: {
                processor: o.processorHandler && basename(o.processorHandler),
                dispatcher: o.dispatcherHandler && basename(o.dispatcherHandler),
              },
            }
          : {}),
      },
      throughput: {
        orders: o.orders,
        ms: 0,
        ordersPerSec: 0,
        storedMsgsPerSec: 0,
        windows: [],
        verified: { failed: 0, exact: false },
      },
      workers: [],
      startedAt: new Date().toISOString(),
      command: deps.command,
    };
    if (o.ingest) result.ingest = await measureIngest(nc, jsm, t, o, deps);
    abortIfAsked(deps.signal);

    await freshTopology(jsm, t);
    const server = connectOptions.servers.join(",");
    const nodeArgs = o.cpuProf ? ["--cpu-prof", "--cpu-prof-dir", o.cpuProf] : [];
    const startWorkers = async (
      handlers: Pick<BenchOptions, "processorHandler" | "dispatcherHandler">,
      on = server,
      env?: NodeJS.ProcessEnv,
    ) => {
      const launches = deps.pipeline
        ? stageWorkerLaunches(t, o, deps.pipeline)
        : seedWorkerLaunches(o, t.stream, handlers);
      const started = launches.map((l) => new WorkerProcess(l.kind, on, l.args, nodeArgs, env));
      workers.push(...started);
      await Promise.all(started.map((w) => w.started()));
      return started;
    };
    await startWorkers(o);
    const sampler = setInterval(() => {
      Promise.all(workers.map((w) => w.sample())).catch((err: unknown) =>
        deps.logger.warn({ err }, "could not sample worker CPU/RSS"),
      );
    }, o.sampleMs);

    const watcher = new CompletionWatcher(nc, jsm, t.stream, subjectOf(t, finalStep(t)));
    await watcher.start();
    try {
      // Latency first, on a pipeline that is warm but has no backlog behind it: measured after the
      // throughput phase it would mostly show the garbage collector cleaning up that burst.
      if (o.rate > 0 && o.latencyOrders > 0) {
        await warmUp(nc, watcher, t, o);
        result.latency = await measureLatency(nc, jsm, watcher, t, o, deps);
      }
      abortIfAsked(deps.signal);
      const cpuBefore = await cpuSnapshot(workers, managed);
      result.throughput = await measureThroughput(nc, watcher, t, o, deps, result.ingest);
      result.throughput.cpuPerOrder = cpuPerOrder(
        cpuBefore,
        await cpuSnapshot(workers, managed),
        workers,
        o.orders,
      );
    } finally {
      clearInterval(sampler);
      await watcher.stop();
    }
    await Promise.all(workers.map((w) => w.sample()));
    result.workers = workers.map((w) => w.usage());
    const expected = o.orders + (result.latency ? o.latencyOrders + WARM_UP_ORDERS : 0);
    result.throughput.verified = await verify(jsm, t, expected);
    await Promise.all(workers.map((w) => w.stop()));
    const run: RunContext = {
      nc,
      jsm,
      t,
      o,
      deps,
      startWorkers: (builtIn, on, env) => startWorkers(builtIn ? {} : o, on, env),
      server,
      ...(deps.pipeline ? { pipelineFile: deps.pipeline.file } : {}),
    };
    if (o.compareBuiltIn) {
      abortIfAsked(deps.signal);
      result.builtIn = await measureBuiltIn(run, result.throughput.ordersPerSec);
    }
    if (o.compareIndex) {
      abortIfAsked(deps.signal);
      result.index = await measureIndexCost(run);
    }
    if (o.compareSync) {
      abortIfAsked(deps.signal);
      result.sync = await measureSyncCost(run);
    }
    if (o.compareOtel) {
      abortIfAsked(deps.signal);
      result.otel = await measureOtelCost(run);
    }
    if (o.compareSeed > 0) {
      abortIfAsked(deps.signal);
      const seed = await measureSeed(nc, jsm, t, o, deps, server);
      result.seed = { ...seed, orderflowRatio: result.throughput.ordersPerSec / seed.ordersPerSec };
    }
    return result;
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await nc.close();
    await managed?.cleanup();
  }
}

function abortIfAsked(signal: AbortSignal): void {
  if (signal.aborted) throw new BenchInterruptedError();
}

/** Publish-only rate of the same payloads into a scratch stream with ORDERS' settings. */
async function measureIngest(
  nc: NatsConnection,
  jsm: JetStreamManager,
  t: TopologyOptions,
  o: BenchOptions,
  deps: BenchDeps,
): Promise<NonNullable<BenchResult["ingest"]>> {
  const name = `${t.stream}_INGEST_BENCH`;
  const messages = Math.min(o.orders, 200_000);
  const run = async (msgIds: boolean): Promise<number> => {
    // A scratch stream left by an interrupted run would skew the measurement.
    if (await findStream(jsm, name)) await jsm.streams.delete(name);
    await jsm.streams.add({ ...streamConfig(t), name, subjects: ["orderflow.bench.ingest"] });
    deps.progress.phase(msgIds ? "ingest (msg id)" : "ingest", messages);
    const started = performance.now();
    await publishRun(nc, {
      subject: "orderflow.bench.ingest",
      first: FIRST_ORDER,
      count: messages,
      msgIds,
      window: o.publishWindow,
      ratePerSec: 0,
      onAcked: (n) => {
        if (n % 5000 === 0) deps.progress.update(n);
      },
    });
    const r = rate(messages, performance.now() - started);
    deps.progress.done();
    await jsm.streams.delete(name);
    return r;
  };
  const plainMsgsPerSec = await run(false);
  const msgIdMsgsPerSec = await run(true);
  return { plainMsgsPerSec, msgIdMsgsPerSec, messages };
}

/**
 * The seed's two Go programs, built from the seed text, on a fresh stream with the same settings:
 * N orders published as fast as the server takes them, timed to the N-th completion.
 */
async function measureSeed(
  nc: NatsConnection,
  jsm: JetStreamManager,
  t: TopologyOptions,
  o: BenchOptions,
  deps: BenchDeps,
  server: string,
): Promise<{ orders: number; ms: number; ordersPerSec: number; exact: boolean }> {
  await freshTopology(jsm, t);
  const seedWorkers = [
    await startSeedWorker(SeedProgram.Processed, server),
    await startSeedWorker(SeedProgram.Completed, server),
  ];
  const watcher = new CompletionWatcher(nc, jsm, t.stream, subjectOf(t, Stage.Completed));
  try {
    await waitUntilPulling(seedWorkers[0] as SeedWorker, jsm, t.stream, t.newConsumer);
    await waitUntilPulling(seedWorkers[1] as SeedWorker, jsm, t.stream, t.dispatchConsumer);
    await watcher.start();
    deps.progress.phase("seed Go workers", o.compareSeed);
    const timer = setInterval(() => deps.progress.update(watcher.completed), 200);
    const started = performance.now();
    try {
      await publishRun(nc, {
        subject: subjectOf(t, Stage.Received),
        first: FIRST_ORDER,
        count: o.compareSeed,
        msgIds: false,
        window: o.publishWindow,
        ratePerSec: 0,
      });
      await watcher.waitFor(o.compareSeed, Math.max(120_000, o.compareSeed * 2));
    } finally {
      clearInterval(timer);
      deps.progress.done();
    }
    const ms = performance.now() - started;
    const verified = await verify(jsm, t, o.compareSeed);
    return { orders: o.compareSeed, ms, ordersPerSec: rate(o.compareSeed, ms), exact: verified.exact };
  } finally {
    await watcher.stop();
    await Promise.all(seedWorkers.map((w) => w.stop()));
  }
}

/** One JetStream hop alone at the offered rate: publish → PubAck into a scratch stream. */
async function measureFloor(
  nc: NatsConnection,
  jsm: JetStreamManager,
  t: TopologyOptions,
  o: BenchOptions,
): Promise<Percentiles> {
  const name = `${t.stream}_FLOOR_BENCH`;
  await jsm.streams.add({ ...streamConfig(t), name, subjects: ["orderflow.bench.floor"] });
  const sentAt = new Float64Array(o.latencyOrders);
  const latencies = new Float64Array(o.latencyOrders);
  try {
    await publishRun(nc, {
      subject: "orderflow.bench.floor",
      first: 0,
      count: o.latencyOrders,
      msgIds: false,
      window: o.publishWindow,
      ratePerSec: o.rate,
      onSent: (i, at) => {
        sentAt[i] = at;
      },
      onAckedOrder: (i, at) => {
        latencies[i] = at - (sentAt[i] ?? at);
      },
    });
  } finally {
    await jsm.streams.delete(name);
  }
  return percentiles(Array.from(latencies));
}

async function measureLatency(
  nc: NatsConnection,
  jsm: JetStreamManager,
  watcher: CompletionWatcher,
  t: TopologyOptions,
  o: BenchOptions,
  deps: BenchDeps,
): Promise<NonNullable<BenchResult["latency"]>> {
  const first = FIRST_ORDER + o.orders;
  const sentAt = new Float64Array(o.latencyOrders);
  const latencies = new Float64Array(o.latencyOrders);
  let seen = 0;
  watcher.onCompleted = (orderNo, at) => {
    const i = orderNo - first;
    if (i >= 0 && i < o.latencyOrders) {
      latencies[i] = at - (sentAt[i] ?? at);
      seen++;
    }
  };
  deps.progress.phase(`latency floor @ ${o.rate}/s`, o.latencyOrders);
  const floor = await measureFloor(nc, jsm, t, o);
  deps.progress.done();
  deps.progress.phase(`latency @ ${o.rate}/s`, o.latencyOrders);
  const timer = setInterval(() => deps.progress.update(seen), 200);
  const started = performance.now();
  await publishRun(nc, {
    subject: subjectOf(t, intakeStep(t)),
    first,
    count: o.latencyOrders,
    msgIds: false,
    window: o.publishWindow,
    ratePerSec: o.rate,
    onSent: (orderNo, at) => {
      sentAt[orderNo - first] = at;
    },
  });
  const deadline = Date.now() + 60_000;
  while (seen < o.latencyOrders && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const elapsed = performance.now() - started;
  clearInterval(timer);
  deps.progress.done();
  watcher.onCompleted = undefined;
  return {
    ...percentiles(Array.from(latencies.subarray(0, o.latencyOrders))),
    offeredRate: o.rate,
    achievedRate: rate(seen, elapsed),
    floor,
  };
}

function machine(): BenchResult["machine"] {
  const c = cpus();
  return {
    cpus: c.length,
    cpuModel: c[0]?.model.trim() ?? "unknown",
    memGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    os: `${platform()} ${release()}`,
  };
}
