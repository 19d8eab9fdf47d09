// @ts-check
// The page's small helpers: elements by selector, formatting, and the types the server sends
// (../page-types.ts), shared by the page's modules. Checked by `npm run lint` (tsconfig.page.json).

/** @typedef {import("../page-types.js").PageSnapshot} PageSnapshot */
/** @typedef {import("../page-types.js").HelloFrame} HelloFrame */
/** @typedef {import("../page-types.js").OrdersFrame} OrdersFrame */
/** @typedef {import("../page-types.js").PageFeedEvent} PageFeedEvent */
/** @typedef {import("../page-types.js").PageChartPoint} PageChartPoint */
/** @typedef {import("../page-types.js").PageLookup} PageLookup */
/** @typedef {import("../page-types.js").PageDeadLetters} PageDeadLetters */
/** @typedef {import("../page-types.js").PageDeadLetter} PageDeadLetter */
/** @typedef {import("../page-types.js").PageReplaySummary} PageReplaySummary */
/** @typedef {import("../page-types.js").PageError} PageError */
/** @typedef {PageSnapshot["latency"]["e2e"]} LatencySummary */
/** @typedef {PageSnapshot["publish"]} PublishView */
/** @typedef {{ seqs?: number[]; all?: boolean; filter?: DlqFilter; dryRun?: boolean }} ReplayRequest */
/** @typedef {{ stage: string; reason: string; orderNo: string }} DlqFilter */
/** @typedef {PageSnapshot["pipeline"]} PipelineView */

/**
 * The element `sel` names. The page's markup always has it, so a missing one is a bug: say which.
 * @template {Element} [T=HTMLElement]
 * @param {string} sel
 * @returns {T}
 */
export function $(sel) {
  const e = document.querySelector(sel);
  if (!e) throw new Error(`the page has no ${sel}`);
  return /** @type {T} */ (e);
}

const nf = new Intl.NumberFormat("en-US");
export const fmt = (/** @type {number | null | undefined} */ n) =>
  n === null || n === undefined ? "–" : nf.format(n);
export const rate = (/** @type {number | null | undefined} */ n) =>
  n === null || n === undefined ? "–" : n < 10 ? n.toFixed(1) : nf.format(Math.round(n));
/** @param {number | null | undefined} v */
export function ms(v) {
  if (v === null || v === undefined) return "–";
  if (v < 1) return `${v.toFixed(2)} ms`;
  if (v < 1000) return `${Math.round(v)} ms`;
  return `${(v / 1000).toFixed(2)} s`;
}
/** @param {string} iso */
export function clock(iso) {
  const d = new Date(iso);
  const p = (/** @type {number} */ n, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}
/**
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {...(Node | string | number)} children
 * @returns {HTMLElement}
 */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

/** An element inside `box` that its card template always has. @param {Element} box @param {string} sel */
export function $field(box, sel) {
  const e = box.querySelector(sel);
  if (!e) throw new Error(`the page has no ${sel} in a card`);
  return e;
}

/** The value of an input or select the markup always has. @param {string} sel */
export function inputValue(sel) {
  return /** @type {HTMLInputElement} */ ($(sel)).value;
}

/** @param {unknown} e */
export function messageOf(e) {
  return e instanceof Error ? e.message : String(e);
}
