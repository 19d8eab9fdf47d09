/// <reference lib="dom" />
// The callbacks of waitForFunction and $$eval run in the page, where the DOM exists.
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { loadHandlerModule } from "../../src/stages/handler-module.js";
import { pipelineStage, type StageDefinition } from "../../src/stages/stage.js";
import { stagesOf } from "../../src/topology/spec.js";
import { startServer } from "../helpers/nats-server.js";
import { shopTopology } from "../helpers/pipelines.js";
import { launchBrowser } from "./browser.js";
import { startSystem } from "./system-fixture.js";

const STEPS = ["received", "validated", "reserved", "paid", "shipped", "completed"];
const STAGES = [
  ["validator", "VALIDATE"],
  ["reserver", "RESERVE"],
  ["payer", "PAY"],
  ["shipper", "SHIP"],
  ["completer", "COMPLETE"],
];

async function waitForText(page: Page, selector: string, expected: string, timeout = 30_000): Promise<void> {
  await page.waitForFunction(
    ([sel, want]) => document.querySelector(sel as string)?.textContent?.trim() === want,
    [selector, expected],
    { timeout },
  );
}

/** `up --config examples/shop/orderflow.config.ts` in the test's process: its five stages with their handlers. */
async function startShop(server: Awaited<ReturnType<typeof startServer>>) {
  const topology = await shopTopology();
  const stages: Record<string, StageDefinition> = {};
  const handlerFiles: Record<string, string> = {};
  for (const spec of stagesOf(topology)) {
    if (!spec.handler) continue;
    stages[spec.name] = await loadHandlerModule(spec.handler, pipelineStage(topology, spec));
    handlerFiles[spec.name] = spec.handler;
  }
  return startSystem(server, { refreshMs: 500 }, { topology, stages, handlerFiles });
}

describe("the dashboard page of a declared pipeline (examples/shop) in headless Chromium", () => {
  it("shows the five stages in order, their counts moving as orders flow, and the end-to-end count", async () => {
    const server = await startServer();
    const system = await startShop(server);
    const browser = await launchBrowser();
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (err) => pageErrors.push(err.message));

    await page.goto(system.dashboardUrl);
    await page.waitForSelector('#conn[data-state="connected"]');
    await waitForText(page, "#count-completed", "0");

    // A box per step and a consumer card per stage, in pipeline order, each with its name.
    const boxes = await page.$$eval("#pipeline .stage:not(.stage-failed)", (els) =>
      els.map((e) => [(e as HTMLElement).dataset.stage, e.querySelector(".stage-name")?.textContent]),
    );
    expect(boxes).toEqual(STEPS.map((s) => [s, s]));
    const cards = await page.$$eval("#pipeline .consumer", (els) =>
      els.map((e) => [
        e.querySelector("[data-field-feeds]")?.textContent,
        e.querySelector("[data-field-name]")?.textContent,
      ]),
    );
    expect(cards).toEqual(STAGES);
    // Interleaved: received, VALIDATE, validated, RESERVE, …, completed.
    const order = await page.$$eval("#pipeline .stage:not(.stage-failed), #pipeline .consumer", (els) =>
      els.map((e) => (e as HTMLElement).dataset.stage ?? (e as HTMLElement).dataset.consumer),
    );
    expect(order).toEqual(STEPS.flatMap((s, i) => (STAGES[i] ? [s, STAGES[i]?.[1]] : [s])));
    expect(await page.isVisible("#stage-failed")).toBe(true);
    expect(await page.$$eval("#latency tbody th", (ths) => ths.map((th) => th.textContent))).toEqual([
      "end to end",
      ...STAGES.map(([name]) => name),
    ]);
    expect((await page.textContent("#e2e-steps"))?.trim()).toBe("received → completed");
    const legend = await page.$$eval(".u-legend .u-series .u-label", (els) => els.map((e) => e.textContent));
    expect(legend.slice(-STEPS.length - 1)).toEqual([...STEPS, "failed"]);
    // Each worker of this process shows the handler it runs on its card.
    await waitForText(page, '#consumer-VALIDATE dd[data-worker-field="handler"]', "validate.ts");

    // 30 orders through the page's own form, and two test orders the validator dead-letters.
    await page.fill("#pub-count", "30");
    await page.fill("#pub-template", "shop-{{Count}}");
    await page.click("#pub-submit");
    for (const step of STEPS) await waitForText(page, `#count-${step}`, "30");
    await page.fill("#pub-count", "2");
    await page.fill("#pub-template", "test-{{Count}}");
    await page.click("#pub-submit");
    await waitForText(page, "#count-received", "32");
    await waitForText(page, "#count-failed", "2");
    await page.waitForFunction(() =>
      document.querySelector("#dlq tbody")?.textContent?.includes("test-order"),
    );
    expect(await page.textContent("#dlq tbody")).toContain("validator");
    for (const [, consumer] of STAGES) {
      await waitForText(page, `#consumer-${consumer} dd[data-field="pending"]`, "0");
      await waitForText(page, `#consumer-${consumer} dd[data-field="ackPending"]`, "0");
    }
    expect((await page.textContent("#count-completed"))?.trim()).toBe("30");
    // End to end, received → completed: the 30 that completed, not the two dead-lettered.
    await waitForText(page, "#lat-e2e td:nth-of-type(5)", "30");
    expect((await page.textContent("#lat-e2e td"))?.trim()).toMatch(/ms|s$/);
    await waitForText(page, "#lat-validator td:nth-of-type(5)", "32");
    await waitForText(page, "#lat-completer td:nth-of-type(5)", "30");

    // Five stages wrap rather than run off the side of the window.
    expect(
      await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth),
    ).toBeLessThanOrEqual(0);
    expect(pageErrors).toEqual([]);
  });

  it("stacks the five stages on a phone screen without sideways scrolling", async () => {
    const server = await startServer();
    const system = await startShop(server);
    const browser = await launchBrowser({ width: 390, height: 844 });
    const page = await browser.newPage();
    await page.goto(system.dashboardUrl);
    await page.waitForSelector('#conn[data-state="connected"]');
    await waitForText(page, "#count-completed", "0");
    expect(
      await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth),
    ).toBeLessThanOrEqual(0);
    const tops = await page.$$eval(STEPS.map((s) => `#stage-${s}`).join(","), (els) =>
      els.map((e) => e.getBoundingClientRect().top),
    );
    for (let i = 1; i < tops.length; i++) expect(tops[i]).toBeGreaterThan(tops[i - 1] as number);
  });
});
