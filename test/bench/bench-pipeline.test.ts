import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isSeedPipeline } from "../../src/bench/bench-pipeline.js";
import { loadPipelineFile } from "../../src/runtime/pipeline-file.js";
import { topologyOptions } from "../../src/topology/spec.js";
import { runCli } from "../helpers/cli.js";
import { SHOP_CONFIG, shopTopology } from "../helpers/pipelines.js";

const SHOP_STAGES = ["validator", "reserver", "payer", "shipper", "completer"];
const SHOP_STEPS = ["received", "validated", "reserved", "paid", "shipped", "completed"];

describe("orderflow bench with a pipeline file", () => {
  it("runs one worker process per declared stage of the shop example and reports each stage by name", async () => {
    const dir = await mkdtemp(join(tmpdir(), "orderflow-bench-shop-"));
    try {
      const out = join(dir, "report.md");
      // The payer's declared 200/s stays on: the run shows the bench honours the file's tuning.
      const res = await runCli(
        ["--config", SHOP_CONFIG, "bench", "--orders", "1000", "--rate", "200"].concat([
          "--latency-orders",
          "100",
          "--no-ingest",
          "--json",
          "--out",
          out,
        ]),
        { timeoutMs: 120_000 },
      );
      expect(res.code, res.stderr).toBe(0);
      const r = JSON.parse(res.stdout);
      // 1,000 timed + 100 latency + 2,000 warm-up orders, exactly once at each of the six steps.
      const each = Object.fromEntries(SHOP_STEPS.map((s) => [s, 3_100]));
      expect(r.throughput.verified).toEqual({ ...each, failed: 0, exact: true });
      expect(r.settings.pipeline).toMatchObject({ file: "orderflow.config.ts", steps: SHOP_STEPS });
      expect(r.settings.pipeline.stages.map((s: { name: string }) => s.name)).toEqual(SHOP_STAGES);
      expect(r.settings.pipeline.stages[2]).toMatchObject({
        name: "payer",
        handler: "pay.ts",
        rateLimit: "200/s",
      });
      expect(r.settings.processors).toBeUndefined();
      expect(r.workers.map((w: { role: string }) => w.role)).toEqual(SHOP_STAGES);
      for (const w of r.workers) expect(w.peakRssMb).toBeGreaterThan(0);
      expect(r.throughput.cpuPerOrder.workers.map((w: { role: string }) => w.role)).toEqual(SHOP_STAGES);
      expect(r.latency.count).toBe(100);
      const md = await readFile(out, "utf8");
      expect(md).toContain("the 5 stages of orderflow.config.ts");
      expect(md).toContain("(6 per order)");
      expect(md).toContain(
        "| verified from the stream | received 3,100, validated 3,100, reserved 3,100, paid 3,100, shipped 3,100, completed 3,100, failed 0: exact |",
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses the seed's own flags with a pipeline that is not the seed's, in one line each", async () => {
    for (const [flags, message] of [
      [
        ["--compare-seed", "100"],
        /^orderflow: --compare-seed times the seed's two Go workers, and orderflow\.config\.ts declares 5 stages/,
      ],
      [["--processor-handler", SHOP_CONFIG], /^orderflow: --processor-handler is for the seed's pipeline/],
      [["--dispatchers", "2"], /^orderflow: --dispatchers counts the seed's workers/],
    ] as const) {
      const res = await runCli(["--config", SHOP_CONFIG, "bench", ...flags]);
      expect(res.code).toBe(1);
      expect(res.stdout).toBe("");
      expect(res.stderr.trim().split("\n")).toEqual([expect.stringMatching(message)]);
    }
  });

  it("tells the seed's pipeline, written as a file, from any other", async () => {
    const dir = await mkdtemp(join(tmpdir(), "orderflow-bench-seedfile-"));
    try {
      const file = join(dir, "orderflow.config.json");
      const seed = [
        { name: "processor", consumer: "NEW", input: "received", output: "processed" },
        { name: "dispatcher", consumer: "DISPATCH", input: "processed", output: "completed" },
      ];
      await writeFile(file, JSON.stringify({ stages: seed }));
      expect(isSeedPipeline(topologyOptions((await loadPipelineFile(file)).topology))).toBe(true);
      await writeFile(file, JSON.stringify({ stages: [{ ...seed[0], consumer: "NEW2" }, seed[1]] }));
      expect(isSeedPipeline(topologyOptions((await loadPipelineFile(file)).topology))).toBe(false);
      expect(isSeedPipeline(topologyOptions())).toBe(true);
      expect(isSeedPipeline(await shopTopology())).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
