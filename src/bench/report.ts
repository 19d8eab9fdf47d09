/** The benchmark's result as the operator reads it: table rows for the terminal, a Markdown report. */
import { DEFAULT_TOPOLOGY, stepsOf } from "../topology/spec.js";
import type { BenchResult, TracedPhase } from "./stats.js";

const f0 = (n: number): string => Math.round(n).toLocaleString("en-US");
const f2 = (n: number): string => n.toFixed(2);

/** The steps an order went through in the run: the pipeline file's, or the seed's three. */
function stepsOfRun(r: BenchResult): string[] {
  return r.settings.pipeline?.steps ?? stepsOf(DEFAULT_TOPOLOGY);
}

/** `points` values spread evenly over a series (first and last included), to print a long one. */
export function evenly<T>(values: readonly T[], points: number): T[] {
  if (values.length <= points) return [...values];
  const out: T[] = [];
  for (let i = 0; i < points; i++) {
    out.push(values[Math.round((i * (values.length - 1)) / (points - 1))] as T);
  }
  return out;
}

export function reportRows(r: BenchResult): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  if (r.ingest) {
    rows.push(["raw ingest (publish only, no msg id)", `${f0(r.ingest.plainMsgsPerSec)} msgs/s`]);
    rows.push(["raw ingest (publish only, with Nats-Msg-Id)", `${f0(r.ingest.msgIdMsgsPerSec)} msgs/s`]);
  }
  const t = r.throughput;
  const h = r.settings.handlers;
  if (h) {
    rows.push([
      "handler modules",
      `processor: ${h.processor ?? "built-in"}, dispatcher: ${h.dispatcher ?? "built-in"}`,
    ]);
  }
  rows.push([
    `end-to-end throughput${h ? " with the handler modules" : ""} (${f0(t.orders)} orders)`,
    `${f0(t.ordersPerSec)} orders/s (${f2(t.ms / 1000)} s)`,
  ]);
  rows.push([
    `stored messages/s in the pipeline (${stepsOfRun(r).length} per order)`,
    `${f0(t.storedMsgsPerSec)} msgs/s`,
  ]);
  if (t.ratioToIngest !== undefined) {
    rows.push(["orders/s ÷ raw ingest msgs/s (msg id)", f2(t.ratioToIngest)]);
    rows.push([
      "stored msgs/s ÷ raw ingest msgs/s (msg id)",
      f2(t.storedMsgsPerSec / (r.ingest?.msgIdMsgsPerSec || 1)),
    ]);
  }
  if (r.seed) {
    rows.push([
      `seed's Go workers, same run (${f0(r.seed.orders)} orders)`,
      `${f0(r.seed.ordersPerSec)} orders/s (${f2(r.seed.ms / 1000)} s, counts ${r.seed.exact ? "exact" : "MISMATCH"})`,
    ]);
    rows.push(["orderflow ÷ seed's Go workers", `${f2(r.seed.orderflowRatio)}×`]);
  }
  if (r.index) {
    const x = r.index;
    const counts = x.without.exact && x.with.exact ? "exact" : "MISMATCH";
    rows.push([
      `throughput without / with the order index, same run (${f0(x.orders)} orders each)`,
      `${f0(x.without.ordersPerSec)} / ${f0(x.with.ordersPerSec)} orders/s (counts ${counts})`,
    ]);
    rows.push(["with the index ÷ without", `${f2(x.ratio)}×`]);
    rows.push([
      "the indexer process",
      `${f2(x.indexerCpuUsPerOrder)} µs CPU per order, peak RSS ${f0(x.indexerPeakRssMb)} MB`,
    ]);
  }
  if (r.sync) {
    const x = r.sync;
    const rate = (p: { ms: number; ordersPerSec: number; exact: boolean }) =>
      `${f0(p.ordersPerSec)} orders/s (${f2(p.ms / 1000)} s, counts ${p.exact ? "exact" : "MISMATCH"})`;
    rows.push([`throughput, sync_interval default (2m), same run (${f0(x.orders)} orders)`, rate(x.default)]);
    rows.push(["throughput, sync_interval always (fsync before each PubAck)", rate(x.always)]);
    rows.push(["always ÷ default", `${f2(x.ratio)}×`]);
  }
  if (r.otel) {
    const x = r.otel;
    const runs = (p: TracedPhase) =>
      p.runs > 1 ? `, ${p.runs} runs: ${p.runOrdersPerSec.map(f0).join(" and ")} orders/s` : "";
    const phase = (p: TracedPhase) =>
      `${f0(p.ordersPerSec)} orders/s, ${f2(p.cpuUsPerOrder)} µs worker CPU per order (${f2(p.ms / 1000)} s${runs(p)}, counts ${p.exact ? "exact" : "MISMATCH"}; ${f0(p.exportRequests)} OTLP requests, ${f0(p.exportBytes / 1024)} KiB)`;
    rows.push([`throughput, tracing off, same run (${f0(x.orders)} orders per run)`, phase(x.off)]);
    rows.push(["throughput, traced, 1% sampled", phase(x.onePercent)]);
    rows.push(["throughput, traced, 100% sampled", phase(x.all)]);
    rows.push([
      "traced ÷ off (orders/s)",
      `100%: ${f2(x.allRatio)}×, 1%: ${f2(x.onePercentRatio)}×; CPU per order 100%: ${f2(x.all.cpuUsPerOrder / x.off.cpuUsPerOrder)}×, 1%: ${f2(x.onePercent.cpuUsPerOrder / x.off.cpuUsPerOrder)}×`,
    ]);
  }
  if (r.builtIn) {
    rows.push([
      `end-to-end throughput, built-in stages, same run (${f0(r.builtIn.orders)} orders)`,
      `${f0(r.builtIn.ordersPerSec)} orders/s (${f2(r.builtIn.ms / 1000)} s, counts ${r.builtIn.exact ? "exact" : "MISMATCH"})`,
    ]);
    rows.push(["handler modules ÷ built-in stages", `${f2(r.builtIn.handlerRatio)}×`]);
  }
  const v = t.verified;
  const counts = stepsOfRun(r).map((step) => `${step} ${f0(Number(v[step] ?? 0))}`);
  rows.push([
    "verified from the stream",
    `${counts.join(", ")}, failed ${f0(v.failed)}: ${v.exact ? "exact" : "MISMATCH"}`,
  ]);
  if (r.latency) {
    const l = r.latency;
    rows.push([
      `latency publish→completed at ${f0(l.offeredRate)} orders/s (${f0(l.count)} orders)`,
      `p50 ${f2(l.p50)} ms, p90 ${f2(l.p90)} ms, p99 ${f2(l.p99)} ms, max ${f2(l.max)} ms`,
    ]);
    const fl = l.floor;
    rows.push([
      `floor: one publish→PubAck hop alone at ${f0(l.offeredRate)}/s`,
      `p50 ${f2(fl.p50)} ms, p90 ${f2(fl.p90)} ms, p99 ${f2(fl.p99)} ms, max ${f2(fl.max)} ms`,
    ]);
  }
  const cpu = r.throughput.cpuPerOrder;
  if (cpu) {
    const parts = cpu.workers.map((w) => `${w.role} ${f2(w.us)} µs`);
    parts.push(`workers together ${f2(cpu.workersUs)} µs`);
    if (cpu.serverUs !== undefined) parts.push(`nats-server ${f2(cpu.serverUs)} µs`);
    rows.push(["CPU per order (throughput phase)", parts.join(", ")]);
  }
  for (const w of r.workers) {
    const rss =
      w.rssMb.length > 1 ? `, RSS first/last ${f0(w.rssMb[0] ?? 0)}/${f0(w.rssMb.at(-1) ?? 0)} MB` : "";
    rows.push([
      `${w.role} (pid ${w.pid})`,
      `CPU ${f2(w.cpuSeconds)} s, peak RSS ${f0(w.peakRssMb)} MB${rss}`,
    ]);
  }
  return rows;
}

/** Which worker processes ran, and with what tuning, for the report's settings line. */
function workersLine(r: BenchResult): string {
  const s = r.settings;
  const p = s.pipeline;
  if (!p) {
    return `${s.processors} processor(s) + ${s.dispatchers} dispatcher(s) as separate \`orderflow worker\` processes, batch ${s.batch}, max in flight ${s.maxInFlight}`;
  }
  const stages = p.stages.map((x) => {
    const tuning = [`batch ${x.batch}`, `max in flight ${x.maxInFlight}`];
    if (x.rateLimit) tuning.push(`rate limit ${x.rateLimit}`);
    return `${x.name} (${x.handler ?? "built-in"}; ${tuning.join(", ")})`;
  });
  const lifted = s.rateLimits === false ? ", the file's rate limits lifted (--no-rate-limits)" : "";
  return `the ${p.stages.length} stages of ${p.file}, one \`orderflow worker <stage>\` process each: ${stages.join(", ")}${lifted}`;
}

/** The written report (Markdown): machine, server, settings, figures and the command to reproduce. */
export function markdownReport(r: BenchResult): string {
  const s = r.settings;
  const lines = [
    `# orderflow benchmark`,
    "",
    `Run ${r.startedAt} with \`${r.command}\`.`,
    "",
    `- Machine: ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memGb} GiB, ${r.machine.os}, Node ${r.machine.node}`,
    `- Server: nats-server ${r.server.version} (${r.server.managed ? "managed by the bench: fresh file store, loopback" : "given with --server"})`,
    `- Settings: ${f0(s.orders)} orders, ${workersLine(r)}; all guarantees on (Nats-Msg-Id on every stage output, ack after PubAck, explicit acks)`,
    `- Latency phase: ${f0(s.latencyOrders)} orders offered at ${f0(s.rate)} orders/s`,
    "",
    "| figure | value |",
    "| --- | --- |",
    ...reportRows(r).map(([k, v]) => `| ${k} | ${v} |`),
    "",
  ];
  const series = r.workers.filter((w) => w.rssMb.length > 2);
  if (series.length > 0) {
    lines.push(
      `Worker RSS (MB) over the run, ${Math.min(10, series[0]?.rssMb.length ?? 0)} samples spread evenly from start to end:`,
      "",
    );
    for (const w of series)
      lines.push(`- ${w.role} (pid ${w.pid}): ${evenly(w.rssMb, 10).map(f0).join(", ")}`);
    lines.push("");
  }
  if (r.throughput.windows.length > 1) {
    lines.push("Throughput per window of completed orders:", "", "| completed | orders/s |", "| --- | --- |");
    for (const w of r.throughput.windows) lines.push(`| ${f0(w.upTo)} | ${f0(w.ordersPerSec)} |`);
    lines.push("");
  }
  return `${lines.join("\n")}\n`;
}
