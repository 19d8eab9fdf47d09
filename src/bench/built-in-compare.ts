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
import type { WorkerProcess } from "./worker-processes.js";

/**
 * `--compare-built-in`: the same throughput phase once more on a fresh stream, with fresh worker
 * processes that run the built-in stages, so a handler module is judged against the built-in
 * transformation in the same run, on the same server, under the same load on the machine.
 */
export async function measureBuiltIn(
  nc: NatsConnection,
  jsm: JetStreamManager,
  t: TopologyOptions,
  o: BenchOptions,
  deps: { progress: BenchProgress; logger: Logger },
  startWorkers: () => Promise<WorkerProcess[]>,
  handlerOrdersPerSec: number,
): Promise<NonNullable<BenchResult["builtIn"]>> {
  await freshTopology(jsm, t);
  const workers = await startWorkers();
  const watcher = new CompletionWatcher(nc, jsm, t.stream, subjectOf(t, Stage.Completed));
  try {
    await watcher.start();
    // The handler run had its warm-up (and latency phase) before its throughput phase; so does this.
    const warm = o.rate > 0 && o.latencyOrders > 0;
    if (warm) await warmUp(nc, watcher, t, o);
    const throughput = await measureThroughput(nc, watcher, t, o, deps, undefined);
    const verified = await verify(jsm, t, o.orders + (warm ? WARM_UP_ORDERS : 0));
    return {
      orders: o.orders,
      ms: throughput.ms,
      ordersPerSec: throughput.ordersPerSec,
      exact: verified.exact,
      handlerRatio: handlerOrdersPerSec / throughput.ordersPerSec,
    };
  } finally {
    await watcher.stop();
    await Promise.all(workers.map((w) => w.stop()));
  }
}
