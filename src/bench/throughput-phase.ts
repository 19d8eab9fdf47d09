import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { ensureTopology } from "../topology/ensure.js";
import { findStream } from "../topology/read.js";
import { intakeStep, Stage, stepsOf, subjectOf, type TopologyOptions } from "../topology/spec.js";
import type { BenchOptions } from "./bench-options.js";
import type { CompletionWatcher } from "./completion-watcher.js";
import { publishRun } from "./order-publisher.js";
import { type BenchResult, rate, type VerifiedCounts, windowRates } from "./stats.js";

/** The pipeline phases every measured run shares (orderflow's workers, built-in or handler modules). */

export interface BenchProgress {
  phase(name: string, total: number): void;
  update(done: number): void;
  done(): void;
}

/** Order numbers of a run start here (the throughput phase, then latency, then warm-up). */
export const FIRST_ORDER = 1_000_000;
/** Orders sent through the pipeline before the latency phase, so JIT and pools are warm. */
export const WARM_UP_ORDERS = 2_000;

export async function warmUp(
  nc: NatsConnection,
  watcher: CompletionWatcher,
  t: TopologyOptions,
  o: BenchOptions,
  count = WARM_UP_ORDERS,
) {
  const before = watcher.completed;
  await publishRun(nc, {
    subject: subjectOf(t, intakeStep(t)),
    first: FIRST_ORDER + o.orders + o.latencyOrders,
    count,
    msgIds: false,
    window: o.publishWindow,
    ratePerSec: 0,
  });
  await watcher.waitFor(before + count, 60_000);
}

/** End-to-end throughput: `o.orders` published as fast as the server takes them, timed to the last completion. */
export async function measureThroughput(
  nc: NatsConnection,
  watcher: CompletionWatcher,
  t: TopologyOptions,
  o: BenchOptions,
  deps: { progress: BenchProgress },
  ingest: BenchResult["ingest"],
): Promise<BenchResult["throughput"]> {
  const base = watcher.completed;
  deps.progress.phase("throughput", o.orders);
  const progressTimer = setInterval(() => deps.progress.update(watcher.completed - base), 200);
  const samples: Array<[number, number]> = [];
  const started = performance.now();
  const sampleTimer = setInterval(
    () => samples.push([performance.now() - started, watcher.completed - base]),
    100,
  );
  try {
    await publishRun(nc, {
      subject: subjectOf(t, intakeStep(t)),
      first: FIRST_ORDER,
      count: o.orders,
      msgIds: false,
      window: o.publishWindow,
      ratePerSec: 0,
    });
    await watcher.waitFor(base + o.orders, Math.max(120_000, o.orders));
  } finally {
    clearInterval(sampleTimer);
    clearInterval(progressTimer);
  }
  const ms = performance.now() - started;
  samples.push([ms, watcher.completed - base]);
  deps.progress.done();
  const ordersPerSec = rate(o.orders, ms);
  return {
    orders: o.orders,
    ms,
    ordersPerSec,
    storedMsgsPerSec: ordersPerSec * stepsOf(t).length,
    ratioToIngest: ingest ? ordersPerSec / ingest.msgIdMsgsPerSec : undefined,
    windows: windowRates(samples, Math.max(10_000, Math.floor(o.orders / 10))),
    verified: { failed: 0, exact: false },
  };
}

export async function freshTopology(jsm: JetStreamManager, t: TopologyOptions): Promise<void> {
  // Only "not found" means there is nothing to delete; any other error stops the bench.
  if (await findStream(jsm, t.stream)) await jsm.streams.delete(t.stream);
  await ensureTopology(jsm, t);
}

/**
 * Counts per step subject from the stream, in the pipeline's order: exact when every step stored
 * `expected` and nothing failed.
 */
export async function verify(
  jsm: JetStreamManager,
  t: TopologyOptions,
  expected: number,
): Promise<VerifiedCounts> {
  const info = await jsm.streams.info(t.stream, { subjects_filter: ">" });
  const s = info.state.subjects ?? {};
  const steps: Record<string, number> = {};
  for (const step of stepsOf(t)) steps[step] = s[subjectOf(t, step)] ?? 0;
  const failed = s[subjectOf(t, Stage.Failed)] ?? 0;
  return {
    ...steps,
    failed,
    exact: Object.values(steps).every((n) => n === expected) && failed === 0,
  };
}
