// @ts-check
// The publish form and its running jobs.
import { $, el, fmt, inputValue, messageOf } from "./page.js";

/** @typedef {import("./page.js").PublishView} PublishView */
/** @typedef {import("./page.js").PageError} PageError */

/** @param {PublishView} p */
export function renderJobs(p) {
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
  const button = /** @type {HTMLButtonElement} */ ($("#pub-submit"));
  button.disabled = true;
  try {
    const res = await fetch("/api/publish", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        count: Number(inputValue("#pub-count")),
        template: inputValue("#pub-template"),
        interval: inputValue("#pub-interval"),
      }),
    });
    if (!res.ok) {
      /** @type {PageError} */
      const body = await res.json().catch(() => ({ error: res.statusText }));
      err.textContent = body.error || res.statusText;
      err.hidden = false;
    }
  } catch (e) {
    err.textContent = `could not reach the dashboard: ${messageOf(e)}`;
    err.hidden = false;
  } finally {
    button.disabled = false;
  }
});
