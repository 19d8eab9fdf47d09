import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { testServerFeatures } from "../helpers/server-version.js";

describe("orderflow bench (smoke)", () => {
  it("runs every phase on its own server with worker processes and verifies the counts from the stream", async () => {
    const dir = await mkdtemp(join(tmpdir(), "orderflow-bench-"));
    try {
      const out = join(dir, "report.md");
      const res = await runCli(
        ["bench", "--orders", "3000", "--rate", "500", "--latency-orders", "500", "--json", "--out", out],
        { timeoutMs: 120_000 },
      );
      // stderr carries one line per phase (stdout stays pure JSON), and nothing else.
      expect(
        res.stderr
          .trim()
          .split("\n")
          .every((l) => l.startsWith("bench: ")),
      ).toBe(true);
      expect(res.code).toBe(0);
      const r = JSON.parse(res.stdout);
      // 3,000 timed + 500 latency + 2,000 warm-up orders, each exactly once per stage.
      expect(r.throughput.verified).toEqual({
        received: 5_500,
        processed: 5_500,
        completed: 5_500,
        failed: 0,
        exact: true,
      });
      expect(r.throughput.ordersPerSec).toBeGreaterThan(0);
      expect(r.ingest.msgIdMsgsPerSec).toBeGreaterThan(0);
      expect(r.latency.count).toBe(500);
      expect(r.latency.floor.count).toBe(500);
      expect(r.workers.map((w: { role: string }) => w.role)).toEqual(["processor", "dispatcher"]);
      for (const w of r.workers) expect(w.peakRssMb).toBeGreaterThan(0);
      const md = await readFile(out, "utf8");
      expect(md).toContain("# orderflow benchmark");
      expect(md).toContain(": exact |");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("--compare-seed without the seed tutorial stops at once in one line naming ORDERFLOW_SEED_FILE", async () => {
    const missing = join(tmpdir(), "orderflow-no-such-seed.txt");
    const res = await runCli(["bench", "--compare-seed", "100"], { env: { ORDERFLOW_SEED_FILE: missing } });
    expect(res.code).toBe(1);
    expect(res.stdout).toBe("");
    const lines = res.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(missing);
    expect(lines[0]).toMatch(/^orderflow: .*ORDERFLOW_SEED_FILE/);
  });

  it("rejects a bad flag in one line", async () => {
    const res = await runCli(["bench", "--orders", "lots"]);
    expect(res.code).not.toBe(0);
    expect(res.stderr.trim().split("\n")[0]).toMatch(/--orders must be a whole number/);
  });

  it("--processor-handler runs the module in the worker processes; --compare-built-in times the built-in in the same run", async () => {
    const dir = await mkdtemp(join(tmpdir(), "orderflow-bench-"));
    try {
      // The seed's transformation, plus a mark of which process first ran it.
      const seed = fileURLToPath(new URL("../../examples/seed-processor.js", import.meta.url));
      const handler = join(dir, "marked-processor.mjs");
      const mark = join(dir, "ran-in");
      await writeFile(
        handler,
        `import { appendFileSync } from "node:fs";
import seed from ${JSON.stringify(seed)};
let marked = false;
export default function (order) {
  if (!marked) appendFileSync(${JSON.stringify(mark)}, process.pid + "\\n");
  marked = true;
  return seed(order);
}
`,
      );
      const res = await runCli(
        ["bench", "--orders", "2000", "--rate", "0", "--no-ingest", "--json"].concat([
          "--processor-handler",
          handler,
          "--compare-built-in",
        ]),
        { timeoutMs: 120_000 },
      );
      expect(res.code, res.stderr).toBe(0);
      const r = JSON.parse(res.stdout);
      expect(r.settings.handlers).toEqual({ processor: "marked-processor.mjs" });
      expect(r.throughput.verified.exact).toBe(true);
      expect(r.builtIn).toMatchObject({ orders: 2000, exact: true });
      expect(r.builtIn.handlerRatio).toBeCloseTo(r.throughput.ordersPerSec / r.builtIn.ordersPerSec, 6);
      const processors = r.workers.filter((w: { role: string }) => w.role === "processor");
      const ranIn = (await readFile(mark, "utf8")).trim().split("\n").map(Number);
      expect(ranIn).toEqual(processors.map((w: { pid: number }) => w.pid));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("--compare-index times the pipeline without and with an indexer process, counts exact in both", async () => {
    const res = await runCli(
      ["bench", "--orders", "2000", "--rate", "0", "--no-ingest", "--compare-index", "--json"],
      {
        timeoutMs: 120_000,
      },
    );
    expect(res.code, res.stderr).toBe(0);
    const r = JSON.parse(res.stdout);
    expect(r.index).toMatchObject({ orders: 2000, without: { exact: true }, with: { exact: true } });
    expect(r.index.ratio).toBeCloseTo(r.index.with.ordersPerSec / r.index.without.ordersPerSec, 6);
    // The indexer really read the stream: it used CPU for it and had memory.
    expect(r.index.indexerCpuUsPerOrder).toBeGreaterThan(0);
    expect(r.index.indexerPeakRssMb).toBeGreaterThan(0);
  });

  it("--compare-sync times the pipeline with the default sync_interval and with always (2.10+), counts exact in both", async () => {
    const res = await runCli(
      ["bench", "--orders", "1000", "--rate", "0", "--no-ingest", "--compare-sync", "--json"],
      { timeoutMs: 180_000 },
    );
    if (!testServerFeatures().syncInterval) {
      expect(res.code).toBe(1);
      expect(res.stderr.trim().split("\n")).toEqual([
        expect.stringMatching(/--compare-sync needs nats-server 2\.10 or newer/),
      ]);
      return;
    }
    expect(res.code, res.stderr).toBe(0);
    const r = JSON.parse(res.stdout);
    expect(r.sync).toMatchObject({ orders: 1000, default: { exact: true }, always: { exact: true } });
    expect(r.sync.ratio).toBeCloseTo(r.sync.always.ordersPerSec / r.sync.default.ordersPerSec, 6);
    const given = await runCli(["bench", "--compare-sync", "-s", "nats://127.0.0.1:1"]);
    expect(given.code).toBe(1);
    expect(given.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(/--compare-sync starts its own servers/),
    ]);
  });

  it("--compare-built-in without a handler module is one line", async () => {
    const res = await runCli(["bench", "--compare-built-in"]);
    expect(res.code).toBe(1);
    const lines = res.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/--compare-built-in compares a handler module/);
  });
  it("--otel times the throughput phase untraced, traced at 100% and at 1%, counts exact in each", async () => {
    const res = await runCli(
      ["bench", "--orders", "1000", "--rate", "0", "--no-ingest", "--otel", "--json"],
      {
        timeoutMs: 240_000,
      },
    );
    expect(res.code, res.stderr).toBe(0);
    const r = JSON.parse(res.stdout);
    expect(r.otel).toMatchObject({
      orders: 1000,
      off: { sampled: 0, runs: 2, exact: true, exportRequests: 0, exportBytes: 0 },
      all: { sampled: 1, runs: 1, exact: true },
      onePercent: { sampled: 0.01, runs: 2, exact: true },
    });
    // Off and 1% are each over their two runs: all orders over all time.
    for (const p of [r.otel.off, r.otel.onePercent]) {
      expect(p.runOrdersPerSec).toHaveLength(2);
      expect(p.ordersPerSec).toBeCloseTo((2 * 1000 * 1000) / p.ms, 6);
    }
    // Every order's spans went out at 100%; at 1% about a hundredth of them.
    expect(r.otel.all.exportRequests).toBeGreaterThan(0);
    expect(r.otel.all.exportBytes).toBeGreaterThan(r.otel.onePercent.exportBytes * 5);
    for (const p of [r.otel.off, r.otel.all, r.otel.onePercent]) expect(p.cpuUsPerOrder).toBeGreaterThan(0);
    expect(r.otel.allRatio).toBeCloseTo(r.otel.all.ordersPerSec / r.otel.off.ordersPerSec, 6);
    expect(r.otel.onePercentRatio).toBeCloseTo(r.otel.onePercent.ordersPerSec / r.otel.off.ordersPerSec, 6);
  });
});
