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

/** @param {PageLookup} l */
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
