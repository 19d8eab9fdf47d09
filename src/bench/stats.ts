/**
 * The benchmark's maths, apart from its orchestration: percentiles, rates, ratios and the report.
 * Pure functions, unit-tested.
 */

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
  const rank = (p: number): number =>
    sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
  return {
    p50: rank(50),
    p90: rank(90),
    p99: rank(99),
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

export interface BenchResult {
  machine: { cpus: number; cpuModel: string; memGb: number; node: string; os: string };
  server: { version: string; managed: boolean };
  settings: {
    orders: number;
    processors: number;
    dispatchers: number;
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
    verified: { received: number; processed: number; completed: number; failed: number; exact: boolean };
    /** CPU microseconds per order during the throughput phase alone (Linux /proc). */
    cpuPerOrder?: CpuPerOrder;
  };
  /** The seed's Go workers on the same server and stream settings, for the ratio. */
  seed?: { orders: number; ms: number; ordersPerSec: number; exact: boolean; orderflowRatio: number };
  /** `--compare-built-in`: the built-in stages' throughput phase in the same run; ratio = handlers ÷ built-in. */
  builtIn?: { orders: number; ms: number; ordersPerSec: number; exact: boolean; handlerRatio: number };
  latency?: Percentiles & {
    offeredRate: number;
    achievedRate: number;
    /** One JetStream hop alone (publish → PubAck) at the same rate: the floor under each of the pipeline's 3 stored hops. */
    floor: Percentiles;
  };
  workers: ProcessUsage[];
  startedAt: string;
  command: string;
}

const f0 = (n: number): string => Math.round(n).toLocaleString("en-US");
const f2 = (n: number): string => n.toFixed(2);

/** `points` values spread evenly over a series (first and last included), to print a long one. */
export function evenly<T>(values: readonly T[], points: number): T[] {
  if (values.length <= points) return [...values];
  const out: T[] = [];
  for (let i = 0; i < points; i++) {
    out.push(values[Math.round((i * (values.length - 1)) / (points - 1))] as T);
  }
  return out;
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
  rows.push(["stored messages/s in the pipeline (3 per order)", `${f0(t.storedMsgsPerSec)} msgs/s`]);
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
  if (r.builtIn) {
    rows.push([
      `end-to-end throughput, built-in stages, same run (${f0(r.builtIn.orders)} orders)`,
      `${f0(r.builtIn.ordersPerSec)} orders/s (${f2(r.builtIn.ms / 1000)} s, counts ${r.builtIn.exact ? "exact" : "MISMATCH"})`,
    ]);
    rows.push(["handler modules ÷ built-in stages", `${f2(r.builtIn.handlerRatio)}×`]);
  }
  const v = t.verified;
  rows.push([
    "verified from the stream",
    `received ${f0(v.received)}, processed ${f0(v.processed)}, completed ${f0(v.completed)}, failed ${f0(v.failed)}: ${v.exact ? "exact" : "MISMATCH"}`,
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
    `- Settings: ${f0(s.orders)} orders, ${s.processors} processor(s) + ${s.dispatchers} dispatcher(s) as separate \`orderflow worker\` processes, batch ${s.batch}, max in flight ${s.maxInFlight}; all guarantees on (Nats-Msg-Id on every stage output, ack after PubAck, explicit acks)`,
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
