// @ts-check
// The throughput chart (uPlot, loaded before the page's modules as a global): one line per step of
// the pipeline, then failed.
import { $, rate } from "./page.js";

/** @typedef {import("./page.js").PageChartPoint} PageChartPoint */

const INTAKE_COLOUR = "#2563eb";
const FINAL_COLOUR = "#15803d";
const FAILED_COLOUR = "#dc2626";
/** The steps between intake and final, in turn: the seed's one (processed) takes the first. */
const MIDDLE_COLOURS = ["#7c3aed", "#d97706", "#0891b2", "#db2777", "#4d7c0f", "#9333ea", "#0f766e"];

/** The subject tokens charted, in order (every step, then failed). @type {string[]} */
let series = [];
/** One column per series. @type {(number | null)[][]} */
let columns = [];
/** Time, then the series' columns (uPlot's data). @type {[number[], ...(number | null)[][]]} */
let chartData = [[]];
/** @type {uPlot | null} */
let chart = null;
/** @type {ResizeObserver | null} */
let resizer = null;

/**
 * Draws an empty chart for these steps (the pipeline's, in order), replacing any chart drawn before.
 * @param {readonly string[]} steps
 */
export function makeChart(steps) {
  const box = $("#chart");
  chart?.destroy();
  resizer?.disconnect();
  series = [...steps, "failed"];
  columns = series.map(() => []);
  chartData = [[], ...columns];
  const last = steps.length - 1;
  /** @type {uPlot.Options} */
  const opts = {
    width: Math.max(280, box.clientWidth),
    height: 240,
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(5, max * 1.1)] } },
    axes: [{ stroke: "#8a94a6" }, { stroke: "#8a94a6", size: 56 }],
    series: [
      {},
      ...series.map((s, i) => {
        const intake = i === 0;
        const middle = i > 0 && i < last;
        return {
          label: s,
          stroke:
            i > last
              ? FAILED_COLOUR
              : intake
                ? INTAKE_COLOUR
                : middle
                  ? MIDDLE_COLOURS[(i - 1) % MIDDLE_COLOURS.length]
                  : FINAL_COLOUR,
          // In a healthy pipeline the lines coincide: draw them so each stays visible.
          width: intake ? 5 : 2,
          alpha: intake ? 0.45 : 1,
          dash: middle ? [6, 4] : undefined,
          value: (/** @type {uPlot} */ _u, /** @type {number | null} */ v) =>
            v === null ? "–" : `${rate(v)}/s`,
        };
      }),
    ],
    legend: { live: true },
  };
  const made = new uPlot(opts, /** @type {uPlot.AlignedData} */ (chartData), box);
  chart = made;
  resizer = new ResizeObserver(() => made.setSize({ width: Math.max(280, box.clientWidth), height: 240 }));
  resizer.observe(box);
}

/** @param {PageChartPoint} p */
export function addChartPoint(p) {
  const ts = chartData[0];
  const last = ts[ts.length - 1];
  if (last !== undefined && p.t <= last) return;
  ts.push(p.t);
  series.forEach((s, i) => {
    columns[i]?.push(p[s] ?? null);
  });
  const cutoff = p.t - 300;
  while (ts.length > 0 && (ts[0] ?? cutoff) < cutoff) for (const a of chartData) a.shift();
  if (chart) chart.setData(/** @type {uPlot.AlignedData} */ (chartData));
}

/** Forgets every point: the stream's hello sends the history again. */
export function clearChart() {
  for (const a of chartData) a.length = 0;
}
