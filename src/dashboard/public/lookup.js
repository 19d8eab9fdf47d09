// @ts-check
// Order lookup: one order's timeline, from the order index.
import { $, clock, el, inputValue, messageOf, ms } from "./page.js";

/** @typedef {import("./page.js").PageLookup} PageLookup */
/** @typedef {import("./page.js").PageError} PageError */

$("#lookup-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const no = inputValue("#lookup-no").trim();
  const out = $("#lookup-result");
  if (!no) return;
  out.replaceChildren(el("span", { class: "muted" }, "looking up…"));
  try {
    const res = await fetch(`/api/order?no=${encodeURIComponent(no)}`);
    const body = await res.json();
    if (!res.ok) {
      out.replaceChildren(
        el("p", { class: "error" }, /** @type {PageError} */ (body).error || res.statusText),
      );
      return;
    }
    renderLookup(/** @type {PageLookup} */ (body));
  } catch (e) {
    out.replaceChildren(el("p", { class: "error" }, `could not reach the dashboard: ${messageOf(e)}`));
  }
});

/**
 * The entry's trace id, a link to the tracing UI when `up --trace-url` made one (the server builds
 * the URL from the operator's template: the page takes no template and runs no inline script).
 * @param {PageLookup["entries"][number]} e
 */
function traceCell(e) {
  if (!e.traceId) return el("td", { class: "mono trace" });
  const id = e.traceUrl
    ? el("a", { href: e.traceUrl, target: "_blank", rel: "noopener noreferrer" }, e.traceId)
    : e.traceId;
  return el("td", { class: "mono trace", title: `trace ${e.traceId}` }, id);
}

/** @param {PageLookup} l */
function renderLookup(l) {
  const out = $("#lookup-result");
  if (!l.found) {
    out.replaceChildren(el("p", {}, `order ${JSON.stringify(l.orderNo)} not found`));
  } else {
    // The trace column only when a message carries a trace, so untraced pipelines look as before.
    const traced = l.entries.some((e) => e.traceId);
    const rows = l.entries.map((e) =>
      el(
        "tr",
        {},
        el("td", { class: "mono" }, clock(e.time)),
        el("td", {}, el("span", { class: `tag tag-${e.stage}` }, e.stage)),
        el("td", { class: "mono" }, `#${e.seq}`),
        el("td", { class: "mono" }, e.sincePreviousMs === null ? "" : `+${ms(e.sincePreviousMs)}`),
        ...(traced ? [traceCell(e)] : []),
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
