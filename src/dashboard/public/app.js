// @ts-check
// orderflow dashboard: one server-sent event stream (/api/events) feeds everything on the page.
// Plain browser JavaScript as ES modules, no build step; uPlot is loaded before them and served
// locally. Checked against the types the server sends (../page-types.ts) by `npm run lint`.
import { addChartPoint, clearChart, makeChart } from "./chart.js";
import { loadDeadLetters } from "./dead-letters.js";
import { addEvents } from "./feed.js";
import "./lookup.js";
import { $, $field, clock, el, fmt, ms, rate } from "./page.js";
import { renderJobs } from "./publish.js";

/** @typedef {import("./page.js").PageSnapshot} PageSnapshot */
/** @typedef {import("./page.js").HelloFrame} HelloFrame */
/** @typedef {import("./page.js").OrdersFrame} OrdersFrame */
/** @typedef {import("./page.js").LatencySummary} LatencySummary */
/** @typedef {import("./page.js").PipelineView} PipelineView */

/** No frame for this long (snapshots come every second) means the dashboard itself is unreachable. */
const STALE_MS = 6000;

// ---- connection state and the banner ------------------------------------------------------------
/** @type {{ lastFrameAt: number; snapshot: PageSnapshot | null; streamOpen: boolean }} */
const live = { lastFrameAt: 0, snapshot: null, streamOpen: false };

/** @param {"bad" | "warn" | null} kind @param {string} [title] @param {string} [text] */
function showBanner(kind, title = "", text = "") {
  const b = $("#banner");
  if (!kind) {
    b.hidden = true;
    b.removeAttribute("data-kind");
    return;
  }
  b.hidden = false;
  b.dataset.kind = kind;
  $("#banner-title").textContent = title;
  $("#banner-text").textContent = text;
}

function updateBanner() {
  const stale = !live.streamOpen || Date.now() - live.lastFrameAt > STALE_MS;
  const s = live.snapshot;
  if (stale) {
    showBanner(
      "bad",
      "Dashboard unreachable.",
      "Lost the connection to orderflow; retrying every 2 seconds. The numbers below are the last ones received.",
    );
    setPill($("#conn"), "bad", "dashboard offline");
    return;
  }
  if (s && !s.nats.connected) {
    const down = s.nats.connections.filter((c) => !c.connected).map((c) => c.name);
    showBanner(
      "bad",
      "NATS is down.",
      `Not connected to the NATS server (${down.join(", ")}); reconnecting by itself. Orders already stored are safe and processing resumes when the server is back.`,
    );
    return;
  }
  if (s && !s.ready.ready) {
    showBanner("warn", "Not ready.", s.ready.reasons.join("; "));
    return;
  }
  showBanner(null);
}
setInterval(updateBanner, 1000);

/** @param {HTMLElement} node @param {string} kind @param {string} text */
function setPill(node, kind, text) {
  node.className = `pill pill-${kind}`;
  node.textContent = text;
}

// ---- the pipeline: a box per step, a consumer card per stage ----------------------------------
/** The pipeline drawn, as JSON: a snapshot with the same one leaves the page alone. */
let drawn = "";

/** @param {string} step @param {string} kind */
function stageBox(step, kind) {
  const box = el("div", { class: `stage${kind ? ` ${kind}` : ""}`, id: `stage-${step}`, "data-stage": step });
  box.append(/** @type {HTMLTemplateElement} */ ($("#stage-card")).content.cloneNode(true));
  $field(box, ".stage-name").textContent = step;
  $field(box, ".stage-count").id = `count-${step}`;
  $field(box, ".stage-rate span").id = `rate-${step}`;
  return box;
}

/** @param {PipelineView["stages"][number]} stage */
function consumerBox(stage) {
  const box = el("div", {
    class: "consumer",
    id: `consumer-${stage.consumer}`,
    "data-feeds": stage.name,
    "data-consumer": stage.consumer,
  });
  box.append(/** @type {HTMLTemplateElement} */ ($("#consumer-card")).content.cloneNode(true));
  $field(box, "[data-field-name]").textContent = stage.consumer;
  $field(box, "[data-field-feeds]").textContent = stage.name;
  return box;
}

const arrow = () => el("div", { class: "arrow", "aria-hidden": "true" });

/**
 * Draws the pipeline the snapshot describes (once, and again only if it changes: `up` restarted with
 * another pipeline file): the step boxes and consumer cards in order, failed below, a latency row
 * per stage, a chart line per step.
 * @param {PipelineView} p
 */
function drawPipeline(p) {
  const key = JSON.stringify(p);
  if (key === drawn) return;
  drawn = key;
  const n = p.stages.length;
  const hops = p.stages.map((stage, i) =>
    el(
      "div",
      { class: "hop" },
      stageBox(p.steps[i] ?? stage.input, i === 0 ? "" : "stage-mid"),
      arrow(),
      consumerBox(stage),
      arrow(),
    ),
  );
  const from = n === 1 ? "the stage" : n === 2 ? "either stage" : "any stage";
  const box = $("#pipeline");
  // Up to three stages fit one row; a longer pipeline wraps, a stage and its consumer together.
  box.classList.toggle("pipeline-long", n > 3);
  box.style.setProperty(
    "--pipeline-columns",
    `${"minmax(110px, 1fr) 28px minmax(150px, 1.3fr) 28px ".repeat(n)}minmax(110px, 1fr)`,
  );
  box.replaceChildren(
    ...hops,
    stageBox(p.steps[n] ?? "", "stage-done"),
    el("div", { class: "failed-link", "aria-hidden": "true" }, `dead letters from ${from} ↓`),
    stageBox("failed", "stage-failed"),
  );
  const latency = $("#latency tbody");
  latency.replaceChildren(
    $("#lat-e2e"),
    ...p.stages.map((stage) =>
      el(
        "tr",
        { id: `lat-${stage.name}` },
        el("th", {}, stage.name),
        ...[1, 2, 3, 4, 5].map(() => el("td", {}, "–")),
      ),
    ),
  );
  const dlqStage = /** @type {HTMLInputElement} */ ($("#dlq-stage"));
  dlqStage.placeholder = p.stages[0]?.name ?? "";
  $("#e2e-steps").textContent = `${p.steps[0] ?? ""} → ${p.steps[n] ?? ""}`;
  makeChart(p.steps);
}

// ---- snapshot rendering -------------------------------------------------------------------------
/** @param {string} id */
const byId = (id) => document.getElementById(id);

/** @type {Record<string, string>} */
const VERDICT_KIND = {
  healthy: "ok",
  "failures-present": "warn",
  "backlog-growing": "warn",
  idle: "warn",
  "no-workers": "bad",
};

/** @param {PageSnapshot} s */
function renderSnapshot(s) {
  live.snapshot = s;
  $("#stream").textContent = `stream ${s.stream}`;
  $("#nats-desc").textContent = s.nats.description;
  const conn = $("#conn");
  conn.dataset.state = s.nats.connected ? "connected" : "disconnected";
  setPill(conn, s.nats.connected ? "ok" : "bad", s.nats.connected ? "NATS connected" : "NATS down");
  conn.title = s.nats.description;

  if (s.verdict) {
    setPill($("#verdict"), VERDICT_KIND[s.verdict.kind] || "unknown", s.verdict.text);
    $("#findings").textContent = s.verdict.findings.join(" · ");
  } else if (s.statusError) {
    setPill($("#verdict"), "unknown", "status unavailable");
    $("#findings").textContent = s.statusError;
  }
  drawPipeline(s.pipeline);
  if (s.stages) {
    for (const [st, v] of Object.entries(s.stages)) {
      const count = byId(`count-${st}`);
      const perSecond = byId(`rate-${st}`);
      if (count) count.textContent = fmt(v.count);
      if (perSecond) perSecond.textContent = rate(v.perSecond);
    }
  }
  for (const c of s.consumers || []) {
    const box = document.querySelector(`.consumer[data-feeds="${CSS.escape(c.feeds)}"]`);
    if (!box) continue;
    $field(box, "[data-field-name]").textContent = c.name;
    for (const dd of box.querySelectorAll("dd[data-field]")) {
      if (!(dd instanceof HTMLElement)) continue;
      const field = /** @type {ConsumerField} */ (dd.dataset.field);
      const v = c[field];
      dd.textContent = fmt(v);
      dd.classList.toggle("hot", field === "pending" && v > 0);
    }
    // This process's worker on the consumer, if it runs one: what it runs and how often it timed out.
    const w = (s.workers || []).find((x) => x.consumer === c.name);
    for (const dd of box.querySelectorAll("dd[data-worker-field]")) {
      if (!(dd instanceof HTMLElement)) continue;
      const field = /** @type {"handler" | "handlerTimeouts"} */ (dd.dataset.workerField);
      const v = w ? w[field] : undefined;
      dd.textContent = v === undefined ? "–" : typeof v === "number" ? fmt(v) : v;
      dd.classList.toggle("hot", field === "handlerTimeouts" && typeof v === "number" && v > 0);
    }
  }
  renderLatency("#lat-e2e", s.latency.e2e);
  for (const stage of s.pipeline.stages)
    renderLatency(`#lat-${CSS.escape(stage.name)}`, s.latency.stages[stage.name]);
  renderDeadLetters(s.deadLetters, s.stages ? s.stages.failed.count : null);
  renderJobs(s.publish);
  for (const p of s.chart) addChartPoint(p);
  updateBanner();
}

/** @typedef {"pending" | "ackPending" | "redelivered" | "waiting" | "workersHere"} ConsumerField */

/** @param {string} rowSel @param {LatencySummary | undefined} l */
function renderLatency(rowSel, l) {
  const cells = $(rowSel).querySelectorAll("td");
  const values = l ? [ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max), fmt(l.count)] : ["–", "–", "–", "–", "–"];
  values.forEach((v, i) => {
    const cell = cells[i];
    if (cell) cell.textContent = v;
  });
}

/** @param {PageSnapshot["deadLetters"]} rows @param {number | null} total */
function renderDeadLetters(rows, total) {
  const body = $("#dlq tbody");
  body.replaceChildren(
    ...rows.map((r) =>
      el(
        "tr",
        {},
        el("td", { class: "mono" }, clock(r.time)),
        el("td", {}, r.stage),
        el("td", {}, el("b", {}, r.reason)),
        el("td", { class: "mono" }, r.orderNo ?? JSON.stringify(r.payload)),
        el(
          "td",
          { class: "detail" },
          `${r.error}${r.deliveries ? ` (${r.deliveries} deliveries)` : ""} · seq ${r.seq}`,
        ),
      ),
    ),
  );
  if (rows.length === 0)
    body.append(el("tr", {}, el("td", { colspan: "5", class: "muted" }, "no dead letters")));
  $("#dlq-note").textContent = total === null ? "" : `${fmt(total)} in the stream, newest first`;
}

// ---- the event stream ---------------------------------------------------------------------------
function connect() {
  const es = new EventSource("/api/events");
  const seen = () => {
    live.lastFrameAt = Date.now();
    live.streamOpen = true;
  };
  es.addEventListener("hello", (m) => {
    seen();
    /** @type {HelloFrame} */
    const h = JSON.parse(m.data);
    drawPipeline(h.snapshot.pipeline);
    clearChart();
    for (const p of h.history) addChartPoint(p);
    $("#feed").replaceChildren();
    addEvents(h.events, 0);
    renderSnapshot(h.snapshot);
  });
  es.addEventListener("snapshot", (m) => {
    seen();
    renderSnapshot(/** @type {PageSnapshot} */ (JSON.parse(m.data)));
  });
  es.addEventListener("orders", (m) => {
    seen();
    /** @type {OrdersFrame} */
    const b = JSON.parse(m.data);
    addEvents(b.events, b.skipped);
  });
  es.addEventListener("error", () => {
    // EventSource retries by itself (the server asks for 2 s); the banner says so meanwhile.
    if (es.readyState !== EventSource.OPEN) live.streamOpen = false;
    updateBanner();
  });
}

connect();
loadDeadLetters();
