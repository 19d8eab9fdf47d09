/// <reference lib="dom" />
import { jetstream } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { connectTo, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";
import { chromiumMissing, launchBrowser } from "./browser.js";
import { startSystem } from "./system-fixture.js";

describe.skipIf(chromiumMissing() !== undefined && process.env.CI !== "true")(
  "the dashboard's dead-letter actions in headless Chromium",
  () => {
    it("filters, shows a dead letter's headers, and replays one and then all matching after a confirmation", async () => {
      const server = await startServer();
      const system = await startSystem(server);
      const nc = await connectTo(server);
      const jsm = await withTopology(nc);
      const js = jetstream(nc);
      // A comma makes an invalid order: the processor dead-letters it at once (reason comma).
      for (const body of ["x,1", "x,2", "x,3"]) await js.publish("ORDERS.received", body);
      await waitFor("three dead letters", async () => (await subjectCounts(jsm))["ORDERS.failed"] === 3);

      const browser = await launchBrowser();
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(system.dashboardUrl);
      await page.fill("#dlq-reason", "comma");
      await page.click("#dlq-load");
      await page.waitForFunction(() => document.querySelectorAll("#dlq-manage tbody tr").length === 3);
      await page.fill("#dlq-reason", "no-such-reason");
      await page.click("#dlq-load");
      await page.waitForFunction(() => document.querySelectorAll("#dlq-manage tbody tr").length === 0);
      await page.fill("#dlq-reason", "comma");
      await page.click("#dlq-load");
      await page.waitForFunction(() => document.querySelectorAll("#dlq-manage tbody tr").length === 3);

      const first = page.locator("#dlq-manage tbody tr").first();
      await first.locator("button").click();
      await page.waitForSelector("#dlq-detail:not([hidden])");
      const detail = (await page.textContent("#dlq-detail")) ?? "";
      expect(detail).toContain("Orderflow-Reason: comma");
      expect(detail).toMatch(/^payload: x,3$/m);

      // One selected: the dry run asks first, and nothing is published before the confirmation.
      await first.locator("input.dlq-pick").check();
      await page.click("#dlq-replay-selected");
      await page.waitForSelector("#dlq-confirm:not([hidden])");
      expect(await page.textContent("#dlq-confirm-text")).toBe(
        "would replay 1, already replayed 0, skipped 0. Replay now?",
      );
      expect((await subjectCounts(jsm))["ORDERS.replayed"] ?? 0).toBe(0);
      await page.click("#dlq-confirm-yes");
      await page.waitForFunction(
        () =>
          document.querySelector("#dlq-result")?.textContent === "replayed 1, already replayed 0, skipped 0",
      );
      expect((await subjectCounts(jsm))["ORDERS.received"]).toBe(4);
      // The replayed input is still invalid: it is dead-lettered again, as a new dead letter.
      await waitFor(
        "the replay dead-lettered again",
        async () => (await subjectCounts(jsm))["ORDERS.failed"] === 4,
      );

      // All matching, cancelled: nothing happens.
      await page.click("#dlq-replay-matching");
      await page.waitForSelector("#dlq-confirm:not([hidden])");
      expect(await page.textContent("#dlq-confirm-text")).toBe(
        "would replay 3, already replayed 1, skipped 0. Replay now?",
      );
      await page.click("#dlq-confirm-no");
      expect(await page.isHidden("#dlq-confirm")).toBe(true);
      expect((await subjectCounts(jsm))["ORDERS.received"]).toBe(4);

      await page.click("#dlq-replay-matching");
      await page.waitForSelector("#dlq-confirm:not([hidden])");
      await page.click("#dlq-confirm-yes");
      await page.waitForFunction(
        () =>
          document.querySelector("#dlq-result")?.textContent === "replayed 3, already replayed 1, skipped 0",
      );
      expect((await subjectCounts(jsm))["ORDERS.received"]).toBe(7);
      const replayed = await page.$$eval("#dlq-manage td.replayed", (cells) =>
        cells.map((c) => c.textContent),
      );
      expect(replayed.filter((r) => r === "yes")).toHaveLength(4);
      // The order lookup shows the failure, then the replayed input, in stream order.
      await page.fill("#lookup-no", "x,3");
      await page.click("#lookup-form button");
      await page.waitForFunction(() =>
        document.querySelector("#lookup-result")?.textContent?.includes("replay of"),
      );
      const stages = await page.$$eval("#lookup-result tbody tr", (rows) =>
        rows.map((r) =>
          r.textContent?.includes("replay of dead letter seq")
            ? "replay"
            : r.querySelector(".tag")?.textContent,
        ),
      );
      expect(stages.slice(0, 3)).toEqual(["received", "failed", "replay"]);
      expect(errors).toEqual([]);
    });
  },
);
