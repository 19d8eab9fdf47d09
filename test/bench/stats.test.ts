import { describe, expect, it } from "vitest";
import { evenly, markdownReport } from "../../src/bench/report.js";
import { type BenchResult, percentiles, rate, windowRates } from "../../src/bench/stats.js";

describe("bench maths", () => {
  it("nearest-rank percentiles", () => {
    const samples = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentiles(samples)).toEqual({ p50: 50, p90: 90, p99: 99, max: 100, count: 100 });
    expect(percentiles([7])).toMatchObject({ p50: 7, p99: 7, max: 7 });
    expect(percentiles([])).toMatchObject({ p50: 0, count: 0 });
    // Order of the input does not matter, and it is not changed.
    const shuffled = [5, 1, 4, 2, 3];
    expect(percentiles(shuffled).p50).toBe(3);
    expect(shuffled).toEqual([5, 1, 4, 2, 3]);
  });

  it("rates and windows of completed orders", () => {
    expect(rate(15_000, 1_000)).toBe(15_000);
    expect(rate(1, 0)).toBe(0);
    const samples: Array<[number, number]> = [
      [0, 0],
      [500, 5_000],
      [1_000, 10_000],
      [2_000, 15_000],
      [3_000, 20_000],
    ];
    expect(windowRates(samples, 10_000)).toEqual([
      { upTo: 10_000, ordersPerSec: 10_000 },
      { upTo: 20_000, ordersPerSec: 5_000 },
    ]);
  });

  it("spreads a long series evenly, keeping first and last", () => {
    expect(evenly([1, 2, 3], 10)).toEqual([1, 2, 3]);
    expect(evenly([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 3)).toEqual([0, 5, 10]);
  });

  it("writes a report with machine, settings, figures and the verification verdict", () => {
    const r: BenchResult = {
      machine: { cpus: 2, cpuModel: "Test CPU", memGb: 24, node: "v20.0.0", os: "linux" },
      server: { version: "2.9.10", managed: true },
      settings: {
        orders: 1000,
        processors: 1,
        dispatchers: 1,
        batch: 250,
        maxInFlight: 1000,
        rate: 1000,
        latencyOrders: 100,
      },
      ingest: { plainMsgsPerSec: 100_000, msgIdMsgsPerSec: 80_000, messages: 1000 },
      throughput: {
        orders: 1000,
        ms: 100,
        ordersPerSec: 10_000,
        storedMsgsPerSec: 30_000,
        ratioToIngest: 0.125,
        windows: [],
        verified: { received: 1100, processed: 1100, completed: 1099, failed: 0, exact: false },
      },
      workers: [{ role: "processor", pid: 1, cpuSeconds: 1, peakRssMb: 90, rssMb: [60, 70, 80, 85] }],
      startedAt: "2026-11-27T00:00:00Z",
      command: "orderflow bench",
    };
    const md = markdownReport(r);
    expect(md).toContain("nats-server 2.9.10");
    expect(md).toContain("| end-to-end throughput (1,000 orders) | 10,000 orders/s (0.10 s) |");
    expect(md).toContain("| orders/s ÷ raw ingest msgs/s (msg id) | 0.13 |");
    expect(md).toContain("completed 1,099, failed 0: MISMATCH");
    expect(md).toContain("- processor (pid 1): 60, 70, 80, 85");
  });
});
