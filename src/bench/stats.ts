/**
 * The benchmark's maths, apart from its orchestration: percentiles, rates, ratios, and the shape
 * of its result. Pure functions, unit-tested; the report is rendered in report.ts.
 */
import { percentile } from "../common/percentile.js";

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  count: number;
}

/** Nearest-rank percentiles of a sample (ms). An empty sample gives zeros. */
export function percentiles(samples: readonly number[]): Percentiles {
  if (samples.length === 0) return { p50: 0, p90: 0, p99: 0, max: 0, count: 0 };
  const sorted = Float64Array.from(samples).sort();
  return {
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted[sorted.length - 1] ?? 0,
    count: sorted.length,
  };
}

/** Events per second over a duration in ms. */
export function rate(count: number, ms: number): number {
  return ms > 0 ? (count * 1000) / ms : 0;
}

export function ratio(a: number, b: number): number {
  return b > 0 ? a / b : 0;
}

export interface ProcessUsage {
  role: string;
  pid: number;
  cpuSeconds: number;
  peakRssMb: number;
  /** RSS samples over the run (MB), to show memory staying flat. */
  rssMb: number[];
}

export interface WindowRate {
  /** Orders completed at the end of the window. */
  upTo: number;
  ordersPerSec: number;
}

export interface CpuPerOrder {
  workers: Array<{ role: string; pid: number; us: number }>;
  /** All worker processes together: what one order costs the pipeline's workers. */
  workersUs: number;
  /** The nats-server's, when the bench started it (its pid is known). */
  serverUs?: number;
}

/**
 * Messages stored per step of the pipeline, by step token (`received`, `processed`, `completed` for
 * the seed; every declared step in order for a pipeline file), the dead letters, and whether every
 * step stored each order exactly once with none dead-lettered.
 */
export interface VerifiedCounts {
  [step: string]: number | boolean;
  failed: number;
  exact: boolean;
}

/** With a pipeline file: what the bench ran, one worker process per stage. */
export interface BenchPipeline {
  /** The file's name (not its path: the report is shared). */
  file: string;
  /**
   * The stages in order: each one's handler module's file name (absent: built in), the batch and
   * max in flight its worker ran with, and its declared rate limit (absent: none, or lifted).
   */
  stages: Array<{ name: string; handler?: string; batch: number; maxInFlight: number; rateLimit?: string }>;
  /** Every step of an order in order: the intake, then each stage's output. */
  steps: string[];
}

export interface BenchResult {
  machine: { cpus: number; cpuModel: string; memGb: number; node: string; os: string };
  server: { version: string; managed: boolean };
  settings: {
    orders: number;
    /** The seed's processor and dispatcher processes; absent with a pipeline file (one per stage). */
    processors?: number;
    dispatchers?: number;
    /** With a pipeline file: its stages and steps. */
    pipeline?: BenchPipeline;
    /** With a pipeline file: false when --no-rate-limits lifted the stages' declared rate limits. */
    rateLimits?: boolean;
    batch: number;
    maxInFlight: number;
    rate: number;
    latencyOrders: number;
    /** Handler module file names the workers ran; absent: the built-in stages. */
    handlers?: { processor?: string; dispatcher?: string };
  };
  ingest?: { plainMsgsPerSec: number; msgIdMsgsPerSec: number; messages: number };
  throughput: {
    orders: number;
    ms: number;
    ordersPerSec: number;
    storedMsgsPerSec: number;
    /** Orders/s over the raw ingest bound (messages/s with Nats-Msg-Id). */
    ratioToIngest?: number;
    windows: WindowRate[];
    verified: VerifiedCounts;
    /** CPU microseconds per order during the throughput phase alone (Linux /proc). */
    cpuPerOrder?: CpuPerOrder;
  };
  /** The seed's Go workers on the same server and stream settings, for the ratio. */
  seed?: { orders: number; ms: number; ordersPerSec: number; exact: boolean; orderflowRatio: number };
  /** `--compare-built-in`: the built-in stages' throughput phase in the same run; ratio = handlers ÷ built-in. */
  /**
   * `--compare-index`: throughput without and with an `orderflow indexer` reading the stream, in the
   * same run; ratio = with ÷ without.
   */
  index?: {
    orders: number;
    without: { ms: number; ordersPerSec: number; exact: boolean };
    with: { ms: number; ordersPerSec: number; exact: boolean };
    ratio: number;
    indexerCpuUsPerOrder: number;
    indexerPeakRssMb: number;
  };
  /**
   * `--compare-sync`: throughput with the server's default sync_interval (every 2 minutes) and with
   * `always` (fsync before every PubAck), each on a fresh server and stream, in the same run.
   */
  sync?: {
    orders: number;
    default: { ms: number; ordersPerSec: number; exact: boolean };
    always: { ms: number; ordersPerSec: number; exact: boolean };
    /** always ÷ default. */
    ratio: number;
  };
  /**
   * `--otel`: the throughput phase without tracing, traced with every order sampled, and with 1%
   * sampled, each on a fresh stream with fresh workers, in the same run. Off and 1% are timed twice
   * each, in the order off, 1%, 1%, off (then 100%), so that a machine speeding up or slowing down
   * over the run weighs on both alike; their figures are over both runs.
   */
  otel?: {
    orders: number;
    off: TracedPhase;
    all: TracedPhase;
    onePercent: TracedPhase;
    /** Orders/s traced at 100% ÷ off, and at 1% ÷ off. */
    allRatio: number;
    onePercentRatio: number;
  };
  builtIn?: { orders: number; ms: number; ordersPerSec: number; exact: boolean; handlerRatio: number };
  latency?: Percentiles & {
    offeredRate: number;
    achievedRate: number;
    /** One JetStream hop alone (publish → PubAck) at the same rate: the floor under each of the pipeline's stored hops. */
    floor: Percentiles;
  };
  workers: ProcessUsage[];
  startedAt: string;
  command: string;
}

/** One phase of `bench --otel` (off and 1%: both of its runs together). */
export interface TracedPhase {
  /** The share of orders sampled: 0 (tracing off), 1, 0.01. */
  sampled: number;
  /** How many times the phase ran; the figures below are over all of them (orders/s: all orders ÷ all time). */
  runs: number;
  /** Wall time of all its runs together. */
  ms: number;
  ordersPerSec: number;
  exact: boolean;
  /** The worker processes' CPU time (user + system) over the phase ÷ orders, µs (all stages together). */
  cpuUsPerOrder: number;
  /** The orders/s of each run, in the order they ran. */
  runOrdersPerSec: number[];
  /** OTLP export requests and bytes the sink received during the phase. */
  exportRequests: number;
  exportBytes: number;
}

/** Throughput per window of completed orders, from (time ms, completed count) samples. */
export function windowRates(samples: ReadonlyArray<readonly [number, number]>, every: number): WindowRate[] {
  const out: WindowRate[] = [];
  let last: readonly [number, number] | undefined = samples[0];
  let next = every;
  for (const s of samples) {
    if (!last) break;
    if (s[1] >= next) {
      out.push({ upTo: s[1], ordersPerSec: rate(s[1] - last[1], s[0] - last[0]) });
      last = s;
      next = s[1] + every;
    }
  }
  return out;
}
