// @ts-check
// The throughput chart (uPlot, loaded before the page's modules as a global).
import { $, rate, STAGES } from "./page.js";

/** @typedef {import("./page.js").Stage} Stage */
/** @typedef {import("./page.js").PageChartPoint} PageChartPoint */

/** @type {Record<Stage, string>} */
const STAGE_COLOURS = { received: "#2563eb", processed: "#7c3aed", completed: "#15803d", failed: "#dc2626" };

/** Time, then one series per stage (uPlot's columns). @type {[number[], ...(number | null)[][]]} */
const chartData = [[], [], [], [], []];
const chartSeries = /** @type {(number | null)[][]} */ (chartData.slice(1));
/** @type {uPlot | null} */
let chart = null;

export function makeChart() {
  const box = $("#chart");
  /** @type {uPlot.Options} */
  const opts = {
    width: Math.max(280, box.clientWidth),
    height: 240,
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(5, max * 1.1)] } },
    axes: [{ stroke: "#8a94a6" }, { stroke: "#8a94a6", size: 56 }],
    series: [
      {},
      ...STAGES.map((s) => ({
        label: s,
        stroke: STAGE_COLOURS[s],
        // In a healthy pipeline the three lines coincide: draw them so each stays visible.
        width: s === "received" ? 5 : 2,
        alpha: s === "received" ? 0.45 : 1,
        dash: s === "processed" ? [6, 4] : undefined,
        value: (/** @type {uPlot} */ _u, /** @type {number | null} */ v) =>
          v === null ? "–" : `${rate(v)}/s`,
      })),
    ],
    legend: { live: true },
  };
  const made = new uPlot(opts, /** @type {uPlot.AlignedData} */ (chartData), box);
  chart = made;
  new ResizeObserver(() => made.setSize({ width: Math.max(280, box.clientWidth), height: 240 })).observe(box);
}

/** @param {PageChartPoint} p */
export function addChartPoint(p) {
  const ts = chartData[0];
  const last = ts[ts.length - 1];
  if (last !== undefined && p.t <= last) return;
  ts.push(p.t);
  STAGES.forEach((s, i) => {
    chartSeries[i]?.push(p[s]);
  });
  const cutoff = p.t - 300;
  while (ts.length > 0 && (ts[0] ?? cutoff) < cutoff) for (const a of chartData) a.shift();
  if (chart) chart.setData(/** @type {uPlot.AlignedData} */ (chartData));
}

/** Forgets every point: the stream's hello sends the history again. */
export function clearChart() {
  for (const a of chartData) a.length = 0;
}
