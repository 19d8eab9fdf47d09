import { describe, expect, it } from "vitest";
import { stagesOf } from "../../src/topology/spec.js";
import { runCli } from "../helpers/cli.js";
import { connectTo, publishOrders, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { SHOP_CONFIG, shopTopology } from "../helpers/pipelines.js";
import { waitFor } from "../helpers/wait.js";
import { simulatePipelineStage } from "./simulated-stage.js";

const SHOP_STAGES = [
  { name: "validator", consumer: "VALIDATE" },
  { name: "reserver", consumer: "RESERVE" },
  { name: "payer", consumer: "PAY" },
  { name: "shipper", consumer: "SHIP" },
  { name: "completer", consumer: "COMPLETE" },
];

function shop(url: string, ...args: string[]) {
  return runCli(["--config", SHOP_CONFIG, "status", "-s", url, "--window", "300ms", ...args]);
}

describe("orderflow status of a declared pipeline (examples/shop, five stages)", () => {
  it("reports every stage's consumer and step, judges each stage, and names the consumers without workers", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const topology = await shopTopology();
    const jsm = await withTopology(nc, topology);
    await publishOrders(nc, 5);

    const res = await shop(server.url, "--json");
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    const json = JSON.parse(res.stdout);
    expect(json.stages).toEqual(SHOP_STAGES);
    expect(Object.keys(json.subjects)).toEqual([
      "received",
      "validated",
      "reserved",
      "paid",
      "shipped",
      "completed",
      "failed",
    ]);
    expect(json.subjects.received.messages).toBe(5);
    expect(Object.keys(json.consumers)).toEqual(SHOP_STAGES.map((s) => s.consumer));
    expect(json.consumers.VALIDATE).toMatchObject({ stage: "validator", numPending: 5, numWaiting: 0 });
    expect(json.consumers.COMPLETE).toMatchObject({ stage: "completer", numPending: 0 });
    expect(json.verdict).toBe("no-workers");
    expect(json.findings).toEqual([
      expect.objectContaining({ kind: "no-workers", consumer: "VALIDATE" }),
      expect.objectContaining({ kind: "idle", consumers: ["RESERVE", "PAY", "SHIP", "COMPLETE"] }),
    ]);

    const text = await shop(server.url);
    expect(text.code).toBe(0);
    const rows = text.stdout.split("\n").filter((l) => l.startsWith("ORDERS."));
    expect(rows.map((l) => l.split(/\s+/)[0])).toEqual([
      "ORDERS.received",
      "ORDERS.validated",
      "ORDERS.reserved",
      "ORDERS.paid",
      "ORDERS.shipped",
      "ORDERS.completed",
      "ORDERS.failed",
    ]);
    const consumerRows = text.stdout
      .split("\n")
      .map((l) => l.split(/\s+/)[0])
      .filter((w) => SHOP_STAGES.some((s) => s.consumer === w));
    expect(consumerRows).toEqual(SHOP_STAGES.map((s) => s.consumer));
    expect(text.stdout).toMatch(/^VALIDATE\s+5\s+0\s+0\s+0\s/m);
    expect(text.stdout).toMatch(/^verdict: no workers attached: VALIDATE: 5 orders waiting/m);
    expect(text.stdout).toMatch(/^ {9}idle: no workers on RESERVE, PAY, SHIP, COMPLETE \(nothing pending/m);

    // --check: a state per stage in order, the worst overall.
    const check = await shop(server.url, "--check", "--format", "json");
    expect(check.code).toBe(2);
    const verdicts = JSON.parse(check.stdout);
    expect(verdicts.status).toBe("CRITICAL");
    expect(verdicts.stages.map((s: { name: string; consumer: string }) => [s.name, s.consumer])).toEqual(
      SHOP_STAGES.map((s) => [s.name, s.consumer]),
    );
    expect(verdicts.stages[0]).toMatchObject({ status: "CRITICAL", code: 2 });
    expect(verdicts.stages[0].problems[0]).toMatch(/^no workers: VALIDATE: 5 orders waiting/);
    expect(verdicts.stages.slice(1).map((s: { status: string }) => s.status)).toEqual([
      "OK",
      "OK",
      "OK",
      "OK",
    ]);
    const nagios = await shop(server.url, "--check");
    expect(nagios.code).toBe(2);
    expect(nagios.stdout).toMatch(/^CRITICAL: orderflow ORDERS: no workers: VALIDATE: 5 orders waiting/);
    expect(nagios.stdout).toContain("pending_VALIDATE=5;1000;10000;0");
    expect(nagios.stdout).toContain("pending_COMPLETE=0;1000;10000;0");
    const prometheus = await shop(server.url, "--check", "--format", "prometheus");
    expect(prometheus.stdout).toMatch(
      /^orderflow_check_stage_status\{stage="validator",consumer="VALIDATE"\} 2$/m,
    );
    expect(prometheus.stdout).toMatch(
      /^orderflow_check_stage_status\{stage="completer",consumer="COMPLETE"\} 0$/m,
    );

    // Workers on every stage: the orders reach the final step, and all is well.
    for (const spec of stagesOf(topology)) await simulatePipelineStage(nc, spec.consumer, spec.output);
    await publishOrders(nc, 15, { first: 6 });
    await waitFor("all orders completed", async () => (await subjectCounts(jsm))["ORDERS.completed"] === 20);
    const healthy = JSON.parse((await shop(server.url, "--json")).stdout);
    expect(healthy.verdict).toBe("healthy");
    expect(healthy.subjects.paid.messages).toBe(20);
    expect(healthy.subjects.completed.messages).toBe(20);
    const ok = await shop(server.url, "--check", "--format", "json");
    expect(ok.code).toBe(0);
    const okJson = JSON.parse(ok.stdout);
    expect(okJson.summary).toBe("orderflow ORDERS: backlog 0, 0 dead letters in the last 15m");
    expect(okJson.stages.map((s: { status: string }) => s.status)).toEqual(["OK", "OK", "OK", "OK", "OK"]);
  });
});
