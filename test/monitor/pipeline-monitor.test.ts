import { jetstream } from "@nats-io/jetstream";
import { headers } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { MonitorFeed } from "../../src/monitor/monitor-feed.js";
import type { OrderEvent } from "../../src/monitor/order-event.js";
import { startCli, waitForLines } from "../helpers/background-cli.js";
import { runCli } from "../helpers/cli.js";
import { connectTo, withTopology } from "../helpers/fixtures.js";
import { type NatsServer, startServer } from "../helpers/nats-server.js";
import { SHOP_CONFIG, shopTopology } from "../helpers/pipelines.js";
import { waitFor } from "../helpers/wait.js";

const SHOP_STEPS = ["received", "validated", "reserved", "paid", "shipped", "completed"];

/** Two orders through every shop step as the stages publish them, one dead letter at the payer, one marker. */
async function publishShopRun(server: NatsServer): Promise<number> {
  const js = jetstream(await connectTo(server, "run"));
  for (const step of SHOP_STEPS) {
    for (const no of ["s-1", "s-2"])
      await js.publish(`ORDERS.${step}`, step === "received" ? no : `${no},${step}`);
  }
  const h = headers();
  h.set("Orderflow-Stage", "payer");
  h.set("Orderflow-Reason", "max-attempts");
  h.set("Orderflow-Source-Subject", "ORDERS.reserved");
  await js.publish("ORDERS.failed", "s-3,reserved", { headers: h });
  await js.publish("ORDERS.replayed", "");
  return SHOP_STEPS.length * 2 + 2;
}

describe("MONITOR events of a declared pipeline (the shop example)", () => {
  it("every step's event belongs to its order; a dead letter at step three too; other subjects stay other", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const t = await shopTopology();
    await withTopology(nc, t);
    const feed = new MonitorFeed(nc, t);
    const events: OrderEvent[] = [];
    feed.on((e) => events.push(e));
    await feed.start();
    const total = await publishShopRun(server);
    await waitFor("every event", () => events.length === total);
    await feed.stop();
    const of = (no: string) => events.filter((e) => e.orderNo === no).map((e) => e.stage);
    expect(of("s-1")).toEqual(SHOP_STEPS);
    expect(of("s-2")).toEqual(SHOP_STEPS);
    expect(of("s-3")).toEqual(["failed"]);
    expect(events.at(-1)).toMatchObject({ stage: "other", subject: "ORDERS.replayed", orderNo: undefined });
  });

  it("`orderflow monitor --config` filters by the pipeline's steps and refuses the seed's", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc, await shopTopology());
    const json = startCli([
      "--config",
      SHOP_CONFIG,
      "monitor",
      "-s",
      server.url,
      "--json",
      "--stage",
      "paid,failed",
    ]);
    const text = startCli(["--config", SHOP_CONFIG, "monitor", "-s", server.url, "--stage", "validated"]);
    await waitFor("both monitors subscribed", async () => {
      const res = await fetch(`http://127.0.0.1:${server.monitorPort}/subsz?subs=1&limit=1000`);
      const body = (await res.json()) as { subscriptions_list?: Array<{ subject: string }> };
      return (body.subscriptions_list ?? []).filter((s) => s.subject === "monitor.ORDERS").length === 2;
    });
    await publishShopRun(server);
    const lines = await waitForLines(json, 3, "paid and failed events");
    const picked = lines.map((l) => JSON.parse(l) as { stage: string; orderNo: string });
    expect(picked.map((e) => `${e.stage}:${e.orderNo}`)).toEqual(["paid:s-1", "paid:s-2", "failed:s-3"]);
    const validated = await waitForLines(text, 2, "validated events");
    // The column is as wide as the longest step of this pipeline (`completed`, `validated`).
    expect(validated.map((l) => l.split(/\s{2,}/).slice(1))).toEqual([
      ["validated", "seq 3", "s-1,validated"],
      ["validated", "seq 4", "s-2,validated"],
    ]);
    expect(await json.interrupt()).toBe(0);
    expect(await text.interrupt()).toBe(0);

    const seedStep = await runCli([
      "--config",
      SHOP_CONFIG,
      "monitor",
      "-s",
      server.url,
      "--stage",
      "processed",
    ]);
    expect(seedStep.code).toBe(1);
    expect(seedStep.stderr.trim()).toBe(
      'orderflow: unknown --stage "processed"; use one or more of received, validated, reserved, paid, shipped, completed, failed',
    );
  });
});
