import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "../common/logger.js";
import { Stage, subjectOf, type TopologyOptions } from "../topology/spec.js";
import type { BenchOptions } from "./bench-options.js";
import { CompletionWatcher } from "./completion-watcher.js";
import type { BenchResult } from "./stats.js";
import {
  type BenchProgress,
  freshTopology,
  measureThroughput,
  verify,
  WARM_UP_ORDERS,
  warmUp,
} from "./throughput-phase.js";
import { readCpuSeconds, WorkerProcess } from "./worker-processes.js";

type Deps = { progress: BenchProgress; logger: Logger };
type Phase = NonNullable<BenchResult["index"]>["without"];

/** One throughput phase on a fresh stream with fresh workers (and, if given, a running indexer). */
async function phase(
  nc: NatsConnection,
  jsm: JetStreamManager,
  t: TopologyOptions,
  o: BenchOptions,
  deps: Deps,
  startWorkers: () => Promise<WorkerProcess[]>,
  indexer?: { server: string; dir: string },
): Promise<Phase & { indexer?: WorkerProcess; indexerCpu?: number }> {
  await freshTopology(jsm, t);
  const workers = await startWorkers();
  const ix = indexer
    ? new WorkerProcess("indexer", indexer.server, ["--index-dir", indexer.dir, "--stream", t.stream])
    : undefined;
  const watcher = new CompletionWatcher(nc, jsm, t.stream, subjectOf(t, Stage.Completed));
  try {
    await ix?.started();
    await watcher.start();
    await warmUp(nc, watcher, t, o);
    const pid = ix?.child.pid;
    const cpu0 = pid ? await readCpuSeconds(pid) : 0;
    const throughput = await measureThroughput(nc, watcher, t, o, deps, undefined);
    const cpu1 = pid ? await readCpuSeconds(pid) : 0;
    await ix?.sample();
    const verified = await verify(jsm, t, o.orders + WARM_UP_ORDERS);
    return {
      ms: throughput.ms,
      ordersPerSec: throughput.ordersPerSec,
      exact: verified.exact,
      indexer: ix,
      indexerCpu: cpu1 - cpu0,
    };
  } finally {
    await watcher.stop();
    await Promise.all([...workers, ...(ix ? [ix] : [])].map((w) => w.stop()));
  }
}

/**
 * `--compare-index`: the throughput phase twice more, each on a fresh stream with fresh workers
 * after the same warm-up, first without and then with an `orderflow indexer` process (its index on
 * disk in a temp directory) reading the stream, so the index's cost to the pipeline is one ratio
 * from one run on one server under the same load.
 */
export async function measureIndexCost(
  nc: NatsConnection,
  jsm: JetStreamManager,
  t: TopologyOptions,
  o: BenchOptions,
  deps: Deps,
  startWorkers: () => Promise<WorkerProcess[]>,
  server: string,
): Promise<NonNullable<BenchResult["index"]>> {
  const without = await phase(nc, jsm, t, o, deps, startWorkers);
  const dir = await mkdtemp(join(tmpdir(), "orderflow-bench-index-"));
  try {
    const withIndex = await phase(nc, jsm, t, o, deps, startWorkers, { server, dir });
    return {
      orders: o.orders,
      without: { ms: without.ms, ordersPerSec: without.ordersPerSec, exact: without.exact },
      with: { ms: withIndex.ms, ordersPerSec: withIndex.ordersPerSec, exact: withIndex.exact },
      ratio: withIndex.ordersPerSec / without.ordersPerSec,
      indexerCpuUsPerOrder: ((withIndex.indexerCpu ?? 0) * 1e6) / o.orders,
      indexerPeakRssMb: withIndex.indexer?.peakRssMb ?? 0,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
