import { DEFAULT_STAGE_WORKER_OPTIONS } from "../stages/worker-options.js";

/** Options of `orderflow bench`, defaults in one place. */
export interface BenchOptions {
  /** Orders in the throughput phase (`--orders`). Default 100,000. */
  orders: number;
  /** Offered rate of the latency phase in orders/s (`--rate`); 0 skips the phase. Default 1,000. */
  rate: number;
  /** Orders in the latency phase (`--latency-orders`). Default 15,000 (15 s at 1,000/s). */
  latencyOrders: number;
  /** Processor worker processes (`--processors`). Default 1. */
  processors: number;
  /** Dispatcher worker processes (`--dispatchers`). Default 1. */
  dispatchers: number;
  /** Worker `--batch`. Default as the worker's. */
  batch: number;
  /** Worker `--max-in-flight`. Default as the worker's. */
  maxInFlight: number;
  /** Measure the raw ingest bound first (`--no-ingest` skips). Default true. */
  ingest: boolean;
  /** Publish window of the load generator. Default 2,000. */
  publishWindow: number;
  /** How often worker CPU/RSS is sampled, ms. Default 1,000. */
  sampleMs: number;
  /**
   * Orders for the comparison with the seed's own Go workers, built from the seed text
   * (`--compare-seed <n>`); 0 skips it. Needs Go and Debian's nats.go. Default 0.
   */
  compareSeed: number;
  /** Write a V8 CPU profile of each worker into this directory (`--cpu-prof`). Default none. */
  cpuProf?: string;
  /** Handler module the processor workers run (`--processor-handler`, worker `--handler`). Default built-in. */
  processorHandler?: string;
  /** Handler module the dispatcher workers run (`--dispatcher-handler`). Default built-in. */
  dispatcherHandler?: string;
  /**
   * With a handler module: run the throughput phase again with the built-in stages, in the same run,
   * and report both rates and their ratio (`--compare-built-in`). Default false.
   */
  compareBuiltIn: boolean;
  /**
   * Run the throughput phase without and then with an `orderflow indexer` process, in the same run,
   * and report both rates and their ratio (`--compare-index`). Default false.
   */
  compareIndex: boolean;
  /**
   * Run the throughput phase on the bench's own server with the default `sync_interval` and then on
   * a second one with `sync_interval: always` (fsync before every PubAck, nats-server 2.10+), in the
   * same run, and report both rates and their ratio (`--compare-sync`). Default false.
   */
  compareSync: boolean;
  /**
   * `--otel`: the throughput phase five more times in the same run, on fresh streams with fresh
   * workers: without tracing, with 1% sampled (parent-based trace-id ratio), 1% again, without
   * again, then with every order sampled, the spans exported over OTLP/HTTP to a sink in the bench
   * process; orders/s and the workers' CPU per order for each (off and 1% over their two runs).
   * Default false.
   */
  compareOtel: boolean;
  /**
   * Run the stages with the rate limits their pipeline file declares (`--no-rate-limits` lifts
   * them, to measure the pipeline rather than a provider's quota). Default true.
   */
  rateLimits: boolean;
}

export const DEFAULT_BENCH_OPTIONS: Readonly<BenchOptions> = Object.freeze({
  orders: 100_000,
  rate: 1_000,
  latencyOrders: 15_000,
  processors: 1,
  dispatchers: 1,
  batch: DEFAULT_STAGE_WORKER_OPTIONS.batch,
  maxInFlight: DEFAULT_STAGE_WORKER_OPTIONS.maxInFlight,
  ingest: true,
  publishWindow: 2_000,
  sampleMs: 1_000,
  compareSeed: 0,
  compareBuiltIn: false,
  compareIndex: false,
  compareSync: false,
  compareOtel: false,
  rateLimits: true,
});
