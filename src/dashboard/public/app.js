// orderflow dashboard: one server-sent event stream (/api/events) feeds everything on the page.
// Plain browser JavaScript, no build step; uPlot is loaded before this file and served locally.

const $ = (sel) => document.querySelector(sel);
const STAGES = ["received", "processed", "completed", "failed"];
const STAGE_COLOURS = { received: "#2563eb", processed: "#7c3aed", completed: "#15803d", failed: "#dc2626" };
const FEED_MAX = 200;
/** No frame for this long (snapshots come every second) means the dashboard itself is unreachable. */
const STALE_MS = 6000;

const nf = new Intl.NumberFormat("en-US");
const fmt = (n) => (n === null || n === undefined ? "–" : nf.format(n));
const rate = (n) => (n === null || n === undefined ? "–" : n < 10 ? n.toFixed(1) : nf.format(Math.round(n)));
function ms(v) {
  if (v === null || v === undefined) return "–";
  if (v < 1) return `${v.toFixed(2)} ms`;
  if (v < 1000) return `${Math.round(v)} ms`;
  return `${(v / 1000).toFixed(2)} s`;
}
function clock(iso) {
  const d = new Date(iso);
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

// ---- connection state and the banner ------------------------------------------------------------
const live = { lastFrameAt: 0, snapshot: null, streamOpen: false };

function showBanner(kind, title, text) {
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

function setPill(node, kind, text) {
  node.className = `pill pill-${kind}`;
  node.textContent = text;
}

// ---- snapshot rendering -------------------------------------------------------------------------
const VERDICT_KIND = {
  healthy: "ok",
  "failures-present": "warn",
  "backlog-growing": "warn",
  idle: "warn",
  "no-workers": "bad",
};

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
  if (s.stages) {
    for (const st of STAGES) {
      $(`#count-${st}`).textContent = fmt(s.stages[st].count);
      $(`#rate-${st}`).textContent = rate(s.stages[st].perSecond);
    }
  }
  for (const c of s.consumers || []) {
    const box = document.querySelector(`.consumer[data-feeds="${c.feeds}"]`);
    if (!box) continue;
    box.querySelector("[data-field-name]").textContent = c.name;
    for (const dd of box.querySelectorAll("dd[data-field]")) {
      const v = c[dd.dataset.field];
      dd.textContent = fmt(v);
      dd.classList.toggle("hot", dd.dataset.field === "pending" && v > 0);
    }
    // This process's worker on the consumer, if it runs one: what it runs and how often it timed out.
    const w = (s.workers || []).find((x) => x.consumer === c.name);
    for (const dd of box.querySelectorAll("dd[data-worker-field]")) {
      const v = w ? w[dd.dataset.workerField] : undefined;
      dd.textContent = v === undefined ? "–" : typeof v === "number" ? fmt(v) : v;
      dd.classList.toggle("hot", dd.dataset.workerField === "handlerTimeouts" && v > 0);
    }
  }
  renderLatency("#lat-e2e", s.latency.e2e);
  for (const stage of ["processor", "dispatcher"]) renderLatency(`#lat-${stage}`, s.latency.stages[stage]);
  renderDeadLetters(s.deadLetters, s.stages ? s.stages.failed.count : null);
  renderJobs(s.publish);
  for (const p of s.chart) addChartPoint(p);
  updateBanner();
}

function renderLatency(rowSel, l) {
  const cells = $(rowSel).querySelectorAll("td");
  const values = l ? [ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max), fmt(l.count)] : ["–", "–", "–", "–", "–"];
  values.forEach((v, i) => {
    cells[i].textContent = v;
  });
}

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

// ---- throughput chart ---------------------------------------------------------------------------
const chartData = [[], [], [], [], []];
let chart = null;

function makeChart() {
  const box = $("#chart");
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
        value: (_u, v) => (v === null ? "–" : `${rate(v)}/s`),
      })),
    ],
    legend: { live: true },
  };
  chart = new uPlot(opts, chartData, box);
  new ResizeObserver(() => chart.setSize({ width: Math.max(280, box.clientWidth), height: 240 })).observe(
    box,
  );
}

function addChartPoint(p) {
  const ts = chartData[0];
  if (ts.length > 0 && p.t <= ts[ts.length - 1]) return;
  ts.push(p.t);
  STAGES.forEach((s, i) => {
    chartData[i + 1].push(p[s]);
  });
  const cutoff = p.t - 300;
  while (ts.length > 0 && ts[0] < cutoff) for (const a of chartData) a.shift();
  if (chart) chart.setData(chartData);
}

// ---- live feed ----------------------------------------------------------------------------------
const feed = { paused: false, held: [] };

function feedRow(e) {
  return el(
    "li",
    { "data-stage": e.stage, "data-order": e.orderNo ?? "" },
    el("span", { class: "t mono" }, clock(e.time)),
    el("span", { class: `tag tag-${e.stage}` }, e.stage),
    el(
      "span",
      { class: "o mono", title: e.payload },
      e.orderNo ?? e.payload,
      e.reason ? ` · ${e.reason}` : "",
    ),
    el("span", { class: "seq" }, `#${e.seq}`),
  );
}

/** Adds events (oldest first) at the top, newest first; while paused they wait in `held`. */
function addEvents(events, skipped) {
  if (feed.paused) {
    feed.held.push(...events);
    if (feed.held.length > FEED_MAX) feed.held.splice(0, feed.held.length - FEED_MAX);
    $("#feed-note").textContent = `paused: ${fmt(feed.held.length)} new events waiting`;
    return;
  }
  const list = $("#feed");
  const frag = document.createDocumentFragment();
  for (let i = events.length - 1; i >= 0; i--) frag.append(feedRow(events[i]));
  if (skipped > 0)
    frag.append(
      el("li", {}, el("span", { class: "note" }, `… ${fmt(skipped)} more events not shown (busy)`)),
    );
  list.prepend(frag);
  while (list.children.length > FEED_MAX) list.lastElementChild.remove();
}

$("#feed-pause").addEventListener("click", (ev) => {
  feed.paused = !feed.paused;
  ev.currentTarget.setAttribute("aria-pressed", String(feed.paused));
  ev.currentTarget.textContent = feed.paused ? "Resume" : "Pause";
  if (!feed.paused) {
    const held = feed.held;
    feed.held = [];
    $("#feed-note").textContent = "newest first, from MONITOR";
    addEvents(held, 0);
  } else {
    $("#feed-note").textContent = "paused";
  }
});

// ---- publish form -------------------------------------------------------------------------------
function renderJobs(p) {
  $("#publish-card").hidden = !p.enabled;
  const list = $("#pub-jobs");
  list.replaceChildren(
    ...p.jobs
      .slice()
      .reverse()
      .map((j) => {
        const done = j.published + j.duplicates;
        const li = el(
          "li",
          { "data-job": String(j.id), "data-state": j.state },
          el("span", {}, `#${j.id}`),
          el("progress", { max: String(j.count), value: String(done) }),
          el("span", { class: "mono" }, `${fmt(done)}/${fmt(j.count)} ${j.state}`),
        );
        if (j.duplicates > 0) li.append(el("span", { class: "muted" }, `${fmt(j.duplicates)} duplicates`));
        if (j.error) li.append(el("span", { class: "error" }, j.error));
        if (j.state === "running") {
          const b = el("button", { class: "btn btn-small", type: "button" }, "Stop");
          b.addEventListener("click", () => fetch(`/api/publish/${j.id}/cancel`, { method: "POST" }));
          li.append(b);
        }
        return li;
      }),
  );
}

$("#pub-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const err = $("#pub-error");
  err.hidden = true;
  const button = $("#pub-submit");
  button.disabled = true;
  try {
    const res = await fetch("/api/publish", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        count: Number($("#pub-count").value),
        template: $("#pub-template").value,
        interval: $("#pub-interval").value,
      }),
    });
    if (!res.ok) {
      const body = await res.json().catch(() => ({ error: res.statusText }));
      err.textContent = body.error || res.statusText;
      err.hidden = false;
    }
  } catch (e) {
    err.textContent = `could not reach the dashboard: ${e.message}`;
    err.hidden = false;
  } finally {
    button.disabled = false;
  }
});

// ---- order lookup -------------------------------------------------------------------------------
$("#lookup-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const no = $("#lookup-no").value.trim();
  const out = $("#lookup-result");
  if (!no) return;
  out.replaceChildren(el("span", { class: "muted" }, "looking up…"));
  try {
    const res = await fetch(`/api/order?no=${encodeURIComponent(no)}`);
    const body = await res.json();
    if (!res.ok) {
      out.replaceChildren(el("p", { class: "error" }, body.error || res.statusText));
      return;
    }
    renderLookup(body);
  } catch (e) {
    out.replaceChildren(el("p", { class: "error" }, `could not reach the dashboard: ${e.message}`));
  }
});

function renderLookup(l) {
  const out = $("#lookup-result");
  if (!l.found) {
    out.replaceChildren(el("p", {}, `order ${JSON.stringify(l.orderNo)} not found`));
  } else {
    const rows = l.entries.map((e) =>
      el(
        "tr",
        {},
        el("td", { class: "mono" }, clock(e.time)),
        el("td", {}, el("span", { class: `tag tag-${e.stage}` }, e.stage)),
        el("td", { class: "mono" }, `#${e.seq}`),
        el("td", { class: "mono" }, e.sincePreviousMs === null ? "" : `+${ms(e.sincePreviousMs)}`),
        el(
          "td",
          { class: "detail" },
          e.deadLetter
            ? `${e.deadLetter.reason}: ${e.deadLetter.error ?? ""}`
            : e.replayOf !== undefined
              ? `${e.payload} · replay of dead letter seq ${e.replayOf}`
              : e.payload,
        ),
      ),
    );
    out.replaceChildren(
      el(
        "p",
        {},
        "order ",
        el("b", { class: "mono" }, l.orderNo),
        ": ",
        el("span", { class: "state" }, l.state),
      ),
      el("div", { class: "table-wrap" }, el("table", { class: "list" }, el("tbody", {}, ...rows))),
    );
  }
  if (l.notice) out.append(el("p", { class: "notice" }, l.notice));
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
    const h = JSON.parse(m.data);
    for (const a of chartData) a.length = 0;
    for (const p of h.history) addChartPoint(p);
    $("#feed").replaceChildren();
    addEvents(h.events, 0);
    renderSnapshot(h.snapshot);
  });
  es.addEventListener("snapshot", (m) => {
    seen();
    renderSnapshot(JSON.parse(m.data));
  });
  es.addEventListener("orders", (m) => {
    seen();
    const b = JSON.parse(m.data);
    addEvents(b.events, b.skipped);
  });
  es.addEventListener("error", () => {
    // EventSource retries by itself (the server asks for 2 s); the banner says so meanwhile.
    if (es.readyState !== EventSource.OPEN) live.streamOpen = false;
    updateBanner();
  });
}

makeChart();
connect();

// ---- dead letters: inspect and replay (the API runs the CLI's replay code) ------------------------
const dlq = { rows: [], pending: null };

function dlqFilter() {
  return {
    stage: $("#dlq-stage").value.trim(),
    reason: $("#dlq-reason").value.trim(),
    orderNo: $("#dlq-order").value.trim(),
  };
}

function dlqError(message) {
  const e = $("#dlq-error");
  e.textContent = message;
  e.hidden = !message;
}

async function dlqJson(res) {
  const body = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

async function loadDeadLetters() {
  dlqError("");
  const f = dlqFilter();
  const q = new URLSearchParams();
  if (f.stage) q.set("stage", f.stage);
  if (f.reason) q.set("reason", f.reason);
  if (f.orderNo) q.set("order", f.orderNo);
  try {
    const body = await dlqJson(await fetch(`/api/dead-letters?${q}`));
    dlq.rows = body.rows;
    renderManage(body.total);
  } catch (e) {
    dlqError(e.message);
  }
}

function renderManage(total) {
  const body = $("#dlq-manage tbody");
  body.replaceChildren(
    ...dlq.rows.map((r) => {
      const details = el(
        "button",
        { class: "btn small", type: "button", "data-seq": String(r.seq) },
        "details",
      );
      details.addEventListener("click", () => showDeadLetter(r.seq));
      return el(
        "tr",
        { "data-seq": String(r.seq) },
        el(
          "td",
          {},
          el("input", {
            type: "checkbox",
            class: "dlq-pick",
            value: String(r.seq),
            "aria-label": `select ${r.seq}`,
          }),
        ),
        el("td", { class: "mono" }, String(r.seq)),
        el("td", { class: "mono" }, clock(r.time)),
        el("td", {}, r.stage),
        el("td", {}, r.reason),
        el("td", { class: "mono" }, r.orderNo ?? JSON.stringify(r.payload)),
        el("td", { class: "detail" }, r.error),
        el("td", { class: "replayed" }, r.interrupted ? "interrupted" : r.replayed ? "yes" : "no"),
        el("td", {}, details),
      );
    }),
  );
  $("#dlq-result").textContent =
    `${fmt(total)} matching${total > dlq.rows.length ? `, newest ${dlq.rows.length} shown` : ""}`;
}

async function showDeadLetter(seq) {
  try {
    const d = await dlqJson(await fetch(`/api/dead-letters/${seq}`));
    const lines = [`dead letter seq ${d.seq}, stored ${d.time}, replayed: ${d.replayed ? "yes" : "no"}`];
    for (const [k, v] of Object.entries(d.headers)) lines.push(`  ${k}: ${v}`);
    lines.push(`payload: ${d.payload}`);
    const pre = $("#dlq-detail");
    pre.textContent = lines.join("\n");
    pre.hidden = false;
  } catch (e) {
    dlqError(e.message);
  }
}

async function replay(request) {
  return dlqJson(
    await fetch("/api/dead-letters/replay", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request),
    }),
  );
}

function summaryText(s) {
  const verb = s.dryRun ? "would replay" : "replayed";
  const resumed = s.resumed > 0 ? ` (+${s.resumed} finished from an interrupted run)` : "";
  return `${verb} ${s.replayed}${resumed}, already replayed ${s.alreadyReplayed}, skipped ${s.skipped}`;
}

/** First a dry run says what would happen; only the confirmation replays. */
async function askReplay(request) {
  dlqError("");
  try {
    const dry = await replay({ ...request, dryRun: true });
    dlq.pending = request;
    $("#dlq-confirm-text").textContent = `${summaryText(dry)}. Replay now?`;
    $("#dlq-confirm").hidden = false;
  } catch (e) {
    dlqError(e.message);
  }
}

$("#dlq-filter").addEventListener("submit", (ev) => {
  ev.preventDefault();
  loadDeadLetters();
});
$("#dlq-replay-selected").addEventListener("click", () => {
  const seqs = [...document.querySelectorAll(".dlq-pick:checked")].map((c) => Number(c.value));
  if (seqs.length === 0) return dlqError("select dead letters first");
  askReplay({ seqs });
});
$("#dlq-replay-matching").addEventListener("click", () => {
  const filter = dlqFilter();
  const any = filter.stage || filter.reason || filter.orderNo;
  askReplay(any ? { filter } : { all: true });
});
$("#dlq-confirm-no").addEventListener("click", () => {
  dlq.pending = null;
  $("#dlq-confirm").hidden = true;
});
$("#dlq-confirm-yes").addEventListener("click", async () => {
  const request = dlq.pending;
  $("#dlq-confirm").hidden = true;
  dlq.pending = null;
  if (!request) return;
  try {
    const s = await replay(request);
    await loadDeadLetters();
    $("#dlq-result").textContent = summaryText(s);
  } catch (e) {
    dlqError(e.message);
  }
});
loadDeadLetters();
