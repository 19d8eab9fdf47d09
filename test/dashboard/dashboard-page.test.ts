/// <reference lib="dom" />
// The callbacks of waitForFunction and $$eval run in the page, where the DOM exists.
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstream } from "@nats-io/jetstream";
import { headers } from "@nats-io/nats-core";
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { connectTo } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { launchBrowser } from "./browser.js";
import { startSystem } from "./system-fixture.js";

/** `UPDATE_SCREENSHOT=1 npx vitest run test/dashboard/dashboard-page.test.ts` refreshes docs/dashboard.png, the README's picture. */
const DOCS_SCREENSHOT = fileURLToPath(new URL("../../docs/dashboard.png", import.meta.url));

async function publishThroughForm(
  page: Page,
  count: number,
  template: string,
  interval = "0",
): Promise<void> {
  await page.fill("#pub-count", String(count));
  await page.fill("#pub-template", template);
  await page.fill("#pub-interval", interval);
  await page.click("#pub-submit");
}

async function text(page: Page, selector: string): Promise<string> {
  return (await page.textContent(selector))?.trim() ?? "";
}

async function waitForText(page: Page, selector: string, expected: string, timeout = 20_000): Promise<void> {
  await page.waitForFunction(
    ([sel, want]) => document.querySelector(sel as string)?.textContent?.trim() === want,
    [selector, expected],
    { timeout },
  );
}

describe("the dashboard page in headless Chromium", () => {
  it("publishes through its form, shows the orders complete in the counts and the feed, and survives a NATS outage", async () => {
    const server = await startServer();
    const system = await startSystem(server, { refreshMs: 500 });
    const browser = await launchBrowser();
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    const foreign: string[] = [];
    page.on("pageerror", (err) => pageErrors.push(err.message));
    page.on("request", (req) => {
      if (!req.url().startsWith(system.dashboardUrl)) foreign.push(req.url());
    });

    await page.goto(system.dashboardUrl);
    await page.waitForSelector('#conn[data-state="connected"]');
    expect(await page.isVisible("#banner")).toBe(false);
    await waitForText(page, "#count-completed", "0");

    // Orders through the page's own form.
    await publishThroughForm(page, 40, "web-{{Count}}");
    await waitForText(page, "#count-completed", "40");
    await waitForText(page, "#count-processed", "40");
    await page.waitForSelector('#feed li[data-stage="completed"][data-order="web-40"]');
    await page.waitForSelector('#pub-jobs li[data-state="done"]');
    // Newest first: the top of the feed is the latest stream sequence.
    const seqs = await page.$$eval("#feed li .seq", (els) => els.map((e) => Number(e.textContent?.slice(1))));
    expect(seqs.length).toBeGreaterThan(1);
    expect(seqs[0]).toBe(Math.max(...seqs));

    // An invalid order: dead-lettered, listed with its stage and reason.
    await publishThroughForm(page, 1, "bad,{{Count}}");
    await waitForText(page, "#count-failed", "1");
    await page.waitForFunction(() => document.querySelector("#dlq tbody")?.textContent?.includes("comma"));
    const dlq = await text(page, "#dlq tbody tr");
    expect(dlq).toContain("processor");
    expect(dlq).toContain("bad,1");

    // A template error comes back as one line under the form.
    await publishThroughForm(page, 1, "{{Nope}}");
    await page.waitForSelector("#pub-error:not([hidden])");
    expect(await text(page, "#pub-error")).toMatch(
      /^bad template in template: unknown function \{\{Nope\}\}/,
    );

    // Order lookup: the same timeline as `orderflow order`.
    await page.fill("#lookup-no", "web-7");
    await page.click("#lookup-form button");
    await page.waitForSelector("#lookup-result .state");
    expect(await text(page, "#lookup-result .state")).toBe("completed");
    expect(await page.$$eval("#lookup-result tr", (rows) => rows.length)).toBe(3);

    // Pausing the feed holds new events back; resuming shows them.
    await page.click("#feed-pause");
    const before = await page.$$eval("#feed li", (els) => els.length);
    await publishThroughForm(page, 5, "paused-{{Count}}");
    await waitForText(page, "#count-completed", "45");
    await page.waitForFunction(() =>
      /paused: \d+ new events waiting/.test(document.querySelector("#feed-note")?.textContent ?? ""),
    );
    expect(await page.$$eval("#feed li", (els) => els.length)).toBe(before);
    await page.click("#feed-pause");
    await page.waitForSelector('#feed li[data-stage="completed"][data-order="paused-5"]');

    // NATS down: a banner, and the page keeps its numbers.
    await server.stop();
    await page.waitForSelector("#banner:not([hidden])", { timeout: 20_000 });
    expect(await text(page, "#banner-title")).toBe("NATS is down.");
    expect(await text(page, "#conn")).toBe("NATS down");
    expect(await text(page, "#count-completed")).toBe("45");

    // NATS back: the banner goes by itself and orders flow again.
    await server.start();
    await page.waitForSelector('#conn[data-state="connected"]', { timeout: 30_000 });
    await page.waitForSelector("#banner", { state: "hidden", timeout: 30_000 });
    await publishThroughForm(page, 10, "after-{{Count}}", "20ms");
    await waitForText(page, "#count-completed", "55", 30_000);
    await page.waitForSelector('#feed li[data-stage="completed"][data-order="after-10"]');
    const e2e = await page.$$eval("#lat-e2e td", (tds) => tds.map((td) => td.textContent));
    expect(e2e[0]).toMatch(/ms|s$/);

    expect(pageErrors).toEqual([]);
    expect(foreign).toEqual([]);

    // Let the chart gather a few points after the outage, then keep a picture.
    await page.waitForTimeout(2_000);
    const shot = join(tmpdir(), `orderflow-dashboard-${process.pid}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    if (process.env.UPDATE_SCREENSHOT) {
      await mkdir(join(DOCS_SCREENSHOT, ".."), { recursive: true });
      await page.screenshot({ path: DOCS_SCREENSHOT, fullPage: true });
    }
  });

  it("order lookup shows each message's trace id, linked to the tracing UI of up --trace-url", async () => {
    const server = await startServer();
    // Only the index runs: the stored messages below are the order's whole life.
    const system = await startSystem(server, {
      parts: ["indexer"],
      traceUrl: "http://jaeger.test:16686/trace/{traceId}",
    });
    const nc = await connectTo(server);
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const h = headers();
    h.set("traceparent", `00-${traceId}-00f067aa0ba902b7-01`);
    await jetstream(nc).publish("ORDERS.received", "traced-1", { headers: h });
    await jetstream(nc).publish("ORDERS.processed", "traced-1,processed");

    const browser = await launchBrowser();
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (err) => pageErrors.push(err.message));
    await page.goto(system.dashboardUrl);
    await page.fill("#lookup-no", "traced-1");
    await page.click("#lookup-form button");
    await page.waitForSelector("#lookup-result td.trace a");
    const cells = await page.$$eval("#lookup-result td.trace", (tds) =>
      tds.map((td) => ({ text: td.textContent, href: td.querySelector("a")?.getAttribute("href") ?? null })),
    );
    expect(cells).toEqual([
      { text: traceId, href: `http://jaeger.test:16686/trace/${traceId}` },
      { text: "", href: null },
    ]);
    expect(await page.getAttribute("#lookup-result td.trace a", "rel")).toBe("noopener noreferrer");
    expect(pageErrors).toEqual([]);
  });

  it("fits a phone screen without sideways scrolling", async () => {
    const server = await startServer();
    const system = await startSystem(server);
    const browser = await launchBrowser({ width: 390, height: 844 });
    const page = await browser.newPage();
    await page.goto(system.dashboardUrl);
    await page.waitForSelector('#conn[data-state="connected"]');
    await waitForText(page, "#count-received", "0");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    // Stacked: the stages sit one above the other.
    const boxes = await page.$$eval(
      ["#stage-received", "#stage-processed", "#stage-completed"].join(","),
      (els) => els.map((e) => e.getBoundingClientRect().top),
    );
    expect(boxes[0]).toBeLessThan(boxes[1] as number);
    expect(boxes[1]).toBeLessThan(boxes[2] as number);
  });
});
