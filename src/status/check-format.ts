import { Gauge, Registry } from "prom-client";
import { type CheckResult, stateName } from "./check.js";

export const CHECK_FORMATS = ["nagios", "json", "prometheus"] as const;
export type CheckFormat = (typeof CHECK_FORMATS)[number];

/** Nagios perfdata labels may not hold `=` or quotes; ours are word characters already. */
function perfdata(r: CheckResult): string {
  return r.measures
    .map((m) => {
      const uom = m.unit === "seconds" ? "s" : "";
      const t = (n: number) => (n > 0 ? String(n) : "");
      return `${m.name}=${Number(m.value.toFixed(3))}${uom};${t(m.warn)};${t(m.critical)};0`;
    })
    .join(" ");
}

/**
 * The plugin output convention: `STATE: summary | perfdata` on the first line, then one line per
 * problem (Nagios' long output).
 */
export function checkNagios(r: CheckResult): string {
  const perf = perfdata(r);
  const first = `${stateName(r.state)}: ${r.summary}${perf ? ` | ${perf}` : ""}`;
  const rest = r.problems.length > 1 ? r.problems : [];
  return [first, ...rest].join("\n");
}

export function checkJson(r: CheckResult): Record<string, unknown> {
  return {
    status: stateName(r.state),
    code: r.state,
    summary: r.summary,
    problems: r.problems,
    measures: r.measures.map((m) => ({ ...m, state: stateName(m.state) })),
    stages: r.stages.map((st) => ({
      name: st.stage,
      consumer: st.consumer,
      status: stateName(st.state),
      code: st.state,
      problems: st.problems,
    })),
  };
}

/**
 * For node_exporter's textfile collector or a Pushgateway: the state as a number and every value
 * with its thresholds, through prom-client so the exposition is well-formed.
 */
export async function checkPrometheus(r: CheckResult): Promise<string> {
  const registry = new Registry();
  const reg = { registers: [registry] };
  const status = new Gauge({
    name: "orderflow_check_status",
    help: "orderflow status --check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
    ...reg,
  });
  status.set(r.state);
  const value = new Gauge({
    name: "orderflow_check_value",
    help: "A value orderflow status --check measured (counts, or seconds for ages).",
    labelNames: ["check", "consumer"],
    ...reg,
  });
  const threshold = new Gauge({
    name: "orderflow_check_threshold",
    help: "The threshold a value is checked against (0: that level is off).",
    labelNames: ["check", "consumer", "level"],
    ...reg,
  });
  const measureState = new Gauge({
    name: "orderflow_check_measure_status",
    help: "The state of one measured value: 0 OK, 1 WARNING, 2 CRITICAL.",
    labelNames: ["check", "consumer"],
    ...reg,
  });
  const stageState = new Gauge({
    name: "orderflow_check_stage_status",
    help: "The state of one stage: the worst of its consumer's values. 0 OK, 1 WARNING, 2 CRITICAL.",
    labelNames: ["stage", "consumer"],
    ...reg,
  });
  for (const st of r.stages) stageState.set({ stage: st.stage, consumer: st.consumer }, st.state);
  for (const m of r.measures) {
    const labels = { check: m.check, consumer: m.consumer ?? "" };
    value.set(labels, m.value);
    measureState.set(labels, m.state);
    threshold.set({ ...labels, level: "warn" }, m.warn);
    threshold.set({ ...labels, level: "critical" }, m.critical);
  }
  return registry.metrics();
}

export async function formatCheck(r: CheckResult, format: CheckFormat): Promise<string> {
  if (format === "json") return JSON.stringify(checkJson(r), null, 2);
  if (format === "prometheus") return (await checkPrometheus(r)).trimEnd();
  return checkNagios(r);
}
