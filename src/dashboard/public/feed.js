// @ts-check
// The live feed of order events, newest first, with its pause button.
import { $, clock, el, fmt } from "./page.js";

/** @typedef {import("./page.js").PageFeedEvent} PageFeedEvent */

const FEED_MAX = 200;
/** @type {{ paused: boolean; held: PageFeedEvent[] }} */
const feed = { paused: false, held: [] };

/** @param {PageFeedEvent} e */
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
/** @param {PageFeedEvent[]} events @param {number} skipped */
export function addEvents(events, skipped) {
  if (feed.paused) {
    feed.held.push(...events);
    if (feed.held.length > FEED_MAX) feed.held.splice(0, feed.held.length - FEED_MAX);
    $("#feed-note").textContent = `paused: ${fmt(feed.held.length)} new events waiting`;
    return;
  }
  const list = $("#feed");
  const frag = document.createDocumentFragment();
  for (const e of events.slice().reverse()) frag.append(feedRow(e));
  if (skipped > 0)
    frag.append(
      el("li", {}, el("span", { class: "note" }, `… ${fmt(skipped)} more events not shown (busy)`)),
    );
  list.prepend(frag);
  while (list.children.length > FEED_MAX) list.lastElementChild?.remove();
}

$("#feed-pause").addEventListener("click", () => {
  const button = $("#feed-pause");
  feed.paused = !feed.paused;
  button.setAttribute("aria-pressed", String(feed.paused));
  button.textContent = feed.paused ? "Resume" : "Pause";
  if (!feed.paused) {
    const held = feed.held;
    feed.held = [];
    $("#feed-note").textContent = "newest first, from MONITOR";
    addEvents(held, 0);
  } else {
    $("#feed-note").textContent = "paused";
  }
});
