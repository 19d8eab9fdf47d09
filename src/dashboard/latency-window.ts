import { percentile } from "../common/percentile.js";

/** Percentiles of the recent latencies, as the page shows them. Milliseconds. */
export interface LatencySummary {
  /** Samples in the window. */
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

/**
 * The last `capacity` latency samples of the last `windowMs`, for percentiles on the page (the
 * Prometheus histograms keep the full distribution). Fixed memory: two ring arrays.
 */
export class LatencyWindow {
  private readonly values: Float64Array;
  private readonly times: Float64Array;
  private next = 0;
  private size = 0;

  constructor(
    private readonly windowMs = 60_000,
    capacity = 4096,
  ) {
    this.values = new Float64Array(capacity);
    this.times = new Float64Array(capacity);
  }

  add(ms: number, atMs = Date.now()): void {
    this.values[this.next] = ms;
    this.times[this.next] = atMs;
    this.next = (this.next + 1) % this.values.length;
    this.size = Math.min(this.size + 1, this.values.length);
  }

  summary(nowMs = Date.now()): LatencySummary {
    const cutoff = nowMs - this.windowMs;
    const recent: number[] = [];
    for (let i = 0; i < this.size; i++) {
      if ((this.times[i] as number) >= cutoff) recent.push(this.values[i] as number);
    }
    if (recent.length === 0) return { count: 0, p50: null, p90: null, p99: null, max: null };
    recent.sort((a, b) => a - b);
    return {
      count: recent.length,
      p50: percentile(recent, 0.5),
      p90: percentile(recent, 0.9),
      p99: percentile(recent, 0.99),
      max: recent[recent.length - 1] as number,
    };
  }
}
