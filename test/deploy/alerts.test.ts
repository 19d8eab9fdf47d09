import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { get, startSystem } from "../dashboard/system-fixture.js";
import { connectTo, publishOrders, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

const DIR = fileURLToPath(new URL("../../deploy/prometheus/", import.meta.url));
const RULES = `${DIR}alerts.yml`;

/** promtool comes with Debian's `prometheus` package; .ci/run installs it, so CI never skips. */
const hasPromtool = spawnSync("promtool", ["--version"]).status === 0;
if (!hasPromtool && process.env.CI !== "true") {
  process.stderr.write("skipping promtool checks: promtool not found (apt-get install prometheus)\n");
}

function promtool(...args: string[]) {
  const r = spawnSync("promtool", args, { cwd: DIR, encoding: "utf8" });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Metric names the rules' expressions use, histogram series folded onto their metric. */
function ruleMetrics(): string[] {
  const exprs = [...readFileSync(RULES, "utf8").matchAll(/expr:\s*>?\s*\n?([\s\S]*?)\n\s+(?:for|labels):/g)];
  const names = exprs.flatMap((m) => [...(m[1] as string).matchAll(/\borderflow_[a-z_]+/g)].map((n) => n[0]));
  return [...new Set(names.map((n) => n.replace(/_(bucket|count|sum)$/, "")))].sort();
}

describe("deploy/prometheus/alerts.yml", () => {
  it.skipIf(!hasPromtool && process.env.CI !== "true")("passes promtool check and its unit tests", () => {
    const checked = promtool("check", "rules", "alerts.yml");
    expect(checked.out).toContain("SUCCESS: 6 rules found");
    expect(checked.code).toBe(0);
    const tested = promtool("test", "rules", "alerts.test.yml");
    expect(tested.out).toContain("SUCCESS");
    expect(tested.code).toBe(0);
  });

  it("names only metrics that /metrics exports", async () => {
    const names = ruleMetrics();
    expect(names).toEqual([
      "orderflow_build_info",
      "orderflow_consumer_pending",
      "orderflow_dead_letters_unreplayed",
      "orderflow_nats_connected",
      "orderflow_pipeline_end_messages",
      "orderflow_stage_dead_lettered_total",
      "orderflow_stage_latency_seconds",
    ]);
    const server = await startServer();
    const system = await startSystem(server);
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    await publishOrders(nc, 3);
    await waitFor("completions", async () => (await subjectCounts(jsm))["ORDERS.completed"] === 3);
    const text = await waitFor("a latency observation and a status sample", async () => {
      const t = (await get(system, "/metrics")).text;
      return t.includes("orderflow_stage_latency_seconds_bucket{") &&
        t.includes("orderflow_consumer_pending{")
        ? t
        : undefined;
    });
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    expect(names.filter((n) => !exported.has(n))).toEqual([]);
    // The labels the rules select and group by are there too.
    expect(text).toMatch(
      /^orderflow_stage_latency_seconds_bucket\{[^}]*stage="processor"[^}]*outcome="done"/m,
    );
    expect(text).toMatch(/^orderflow_pipeline_end_messages\{end="intake",stage="received"\} 3$/m);
    expect(text).toMatch(/^orderflow_pipeline_end_messages\{end="final",stage="completed"\} 3$/m);
    expect(text).toMatch(/^orderflow_consumer_pending\{consumer="NEW"\}/m);
    expect(text).toMatch(/^orderflow_dead_letters_unreplayed 0$/m);
  });
});
