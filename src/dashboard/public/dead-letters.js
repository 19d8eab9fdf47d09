// @ts-check
// Dead letters: inspect and replay (the API runs the CLI's replay code).
import { $, clock, el, fmt, inputValue, messageOf } from "./page.js";

/** @typedef {import("./page.js").PageDeadLetters} PageDeadLetters */
/** @typedef {import("./page.js").PageDeadLetter} PageDeadLetter */
/** @typedef {import("./page.js").PageReplaySummary} PageReplaySummary */
/** @typedef {import("./page.js").PageError} PageError */
/** @typedef {import("./page.js").ReplayRequest} ReplayRequest */
/** @typedef {import("./page.js").DlqFilter} DlqFilter */

/** @type {{ rows: PageDeadLetter[]; pending: ReplayRequest | null }} */
const dlq = { rows: [], pending: null };

/** @returns {DlqFilter} */
function dlqFilter() {
  return {
    stage: inputValue("#dlq-stage").trim(),
    reason: inputValue("#dlq-reason").trim(),
    orderNo: inputValue("#dlq-order").trim(),
  };
}

/** @param {string} message */
function dlqError(message) {
  const e = $("#dlq-error");
  e.textContent = message;
  e.hidden = !message;
}

/**
 * The body of a dead-letter API answer, or its error thrown.
 * @template T
 * @param {Response} res
 * @returns {Promise<T>}
 */
async function dlqJson(res) {
  const body = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw new Error(/** @type {PageError} */ (body).error || res.statusText);
  return body;
}

export async function loadDeadLetters() {
  dlqError("");
  const f = dlqFilter();
  const q = new URLSearchParams();
  if (f.stage) q.set("stage", f.stage);
  if (f.reason) q.set("reason", f.reason);
  if (f.orderNo) q.set("order", f.orderNo);
  try {
    /** @type {PageDeadLetters} */
    const body = await dlqJson(await fetch(`/api/dead-letters?${q}`));
    dlq.rows = body.rows;
    renderManage(body.total);
  } catch (e) {
    dlqError(messageOf(e));
  }
}

/** @param {number} total */
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

/** @param {number} seq */
async function showDeadLetter(seq) {
  try {
    /** @type {PageDeadLetter} */
    const d = await dlqJson(await fetch(`/api/dead-letters/${seq}`));
    const lines = [`dead letter seq ${d.seq}, stored ${d.time}, replayed: ${d.replayed ? "yes" : "no"}`];
    for (const [k, v] of Object.entries(d.headers)) lines.push(`  ${k}: ${v}`);
    lines.push(`payload: ${d.payload}`);
    const pre = $("#dlq-detail");
    pre.textContent = lines.join("\n");
    pre.hidden = false;
  } catch (e) {
    dlqError(messageOf(e));
  }
}

/** @param {ReplayRequest} request @returns {Promise<PageReplaySummary>} */
async function replay(request) {
  return dlqJson(
    await fetch("/api/dead-letters/replay", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request),
    }),
  );
}

/** @param {PageReplaySummary} s */
function summaryText(s) {
  const verb = s.dryRun ? "would replay" : "replayed";
  const resumed = s.resumed > 0 ? ` (+${s.resumed} finished from an interrupted run)` : "";
  return `${verb} ${s.replayed}${resumed}, already replayed ${s.alreadyReplayed}, skipped ${s.skipped}`;
}

/** First a dry run says what would happen; only the confirmation replays. */
/** @param {ReplayRequest} request */
async function askReplay(request) {
  dlqError("");
  try {
    const dry = await replay({ ...request, dryRun: true });
    dlq.pending = request;
    $("#dlq-confirm-text").textContent = `${summaryText(dry)}. Replay now?`;
    $("#dlq-confirm").hidden = false;
  } catch (e) {
    dlqError(messageOf(e));
  }
}

$("#dlq-filter").addEventListener("submit", (ev) => {
  ev.preventDefault();
  loadDeadLetters();
});
$("#dlq-replay-selected").addEventListener("click", () => {
  const seqs = [...document.querySelectorAll("input.dlq-pick:checked")].map((c) =>
    Number(/** @type {HTMLInputElement} */ (c).value),
  );
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
    dlqError(messageOf(e));
  }
});
