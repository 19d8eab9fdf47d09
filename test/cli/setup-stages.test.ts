import { jetstreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { describe, expect, it, onTestFinished } from "vitest";
import { consumerConfigs, stagesOf } from "../../src/topology/spec.js";
import { defaultWizardAnswers, seedDeviations, wizardPlan } from "../../src/topology/wizard-plan.js";
import { CLI, runCli } from "../helpers/cli.js";
import { connectTo } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { SHOP_CONFIG, shopTopology } from "../helpers/pipelines.js";
import { hasScript, spawnOnTerminal } from "../helpers/terminal.js";
import { waitFor } from "../helpers/wait.js";

/** `setup` for a declared pipeline: the shop example's five stages. */

const ENTER = "\r";

describe("setup for a declared pipeline", () => {
  it("creates a consumer per stage, then reports each one's drifted fields and puts them back", async () => {
    const server = await startServer();
    const first = await runCli(["--config", SHOP_CONFIG, "setup", "-s", server.url]);
    expect(first.code).toBe(0);
    for (const c of ["VALIDATE", "RESERVE", "PAY", "SHIP", "COMPLETE", "MONITOR"]) {
      expect(first.stdout).toContain(`consumer ORDERS > ${c}: created`);
    }
    const jsm = await jetstreamManager(await connectTo(server));
    await jsm.consumers.update("ORDERS", "PAY", { ack_wait: nanos(5_000) });
    await jsm.consumers.update("ORDERS", "SHIP", { max_ack_pending: 10 });

    const dry = await runCli(["--config", SHOP_CONFIG, "setup", "--dry-run", "-s", server.url]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("consumer ORDERS > PAY: would update\n  ack_wait: 5s -> 30s");
    expect(dry.stdout).toContain("consumer ORDERS > SHIP: would update\n  max_ack_pending: 10 -> 1000");
    expect(dry.stdout).toContain("consumer ORDERS > RESERVE: up to date");
    const fixed = await runCli(["--config", SHOP_CONFIG, "setup", "-s", server.url]);
    expect(fixed.stdout).toContain("consumer ORDERS > PAY: updated");
    expect((await jsm.consumers.info("ORDERS", "PAY")).config.ack_wait).toBe(nanos(30_000));
    const again = await runCli(["--config", SHOP_CONFIG, "setup", "-s", server.url]);
    expect(again.stdout).toContain("topology ORDERS is up to date");
    // `info` shows the declared stages' consumers, not the seed's.
    const info = JSON.parse(
      (await runCli(["--config", SHOP_CONFIG, "info", "--json", "-s", server.url])).stdout,
    );
    expect(info.consumers.map((c: { name: string }) => c.name)).toEqual([
      "VALIDATE",
      "RESERVE",
      "PAY",
      "SHIP",
      "COMPLETE",
      "MONITOR",
    ]);
  });

  it("the wizard's defaults build exactly the declared stages; an answer reaches its stage's consumer", async () => {
    const t = await shopTopology();
    const defaults = defaultWizardAnswers(t);
    expect(defaults.moreStages).toHaveLength(3);
    const plan = wizardPlan(defaults, t);
    expect(plan.consumers).toEqual(consumerConfigs(t));
    expect(seedDeviations(plan, t)).toEqual([]);

    const payer = { ...(defaults.moreStages[0] as (typeof defaults.moreStages)[0]), ackWaitMs: 10_000 };
    const changed = wizardPlan({ ...defaults, moreStages: [payer, ...defaults.moreStages.slice(1)] }, t);
    expect(changed.consumers.map((c) => [c.durable_name, c.filter_subject, c.ack_wait])).toEqual([
      ["VALIDATE", "ORDERS.received", nanos(30_000)],
      ["RESERVE", "ORDERS.validated", nanos(30_000)],
      ["PAY", "ORDERS.reserved", nanos(10_000)],
      ["SHIP", "ORDERS.paid", nanos(30_000)],
      ["COMPLETE", "ORDERS.shipped", nanos(30_000)],
      ["MONITOR", undefined, undefined],
    ]);
    expect(seedDeviations(changed, t)).toEqual(["PAY.ack_wait"]);
  });

  it.skipIf(!hasScript)("setup --interactive asks for each declared stage's consumer", async () => {
    const server = await startServer();
    const t = await shopTopology();
    const child = spawnOnTerminal(
      [process.execPath, CLI, "--config", SHOP_CONFIG, "setup", "--interactive"],
      {
        ...process.env,
        ORDERFLOW_LOG_LEVEL: "warn",
        TERM: "xterm",
        NATS_URL: server.url,
      },
    );
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    onTestFinished(() => {
      if (child.exitCode === null) child.kill("SIGKILL");
    });
    let seen = 0;
    const answer = async (question: string, keys = ENTER) => {
      await waitFor(
        `the prompt "${question}" (output so far: ${out.slice(-300)})`,
        () => out.indexOf(question, seen) >= 0,
      );
      seen = out.indexOf(question, seen) + question.length;
      child.stdin.write(keys);
    };
    for (const q of [
      "Stream Name",
      "Subject prefix",
      "Storage",
      "Replication",
      "Retention Policy",
      "Discard Policy",
      "Stream Messages Limit",
      "Per Subject Messages Limit",
      "Total Stream Size in bytes",
      "Message TTL",
      "Max Message Size in bytes",
      "Duplicate tracking time window",
      "Allow message Roll-ups",
      "Allow message deletion",
      "Allow purging subjects or the entire stream",
    ]) {
      await answer(q);
    }
    for (const s of stagesOf(t)) {
      await answer(`stage ${s.name}: ${s.consumer} (pull, ORDERS.${s.input}): Start policy`);
      await answer(`${s.consumer}: Replay policy`);
      await answer(`${s.consumer}: Acknowledgement wait`, s.consumer === "SHIP" ? `45s${ENTER}` : ENTER);
      await answer(`${s.consumer}: Maximum Allowed Deliveries`);
      await answer(`${s.consumer}: Maximum Acknowledgements Pending`);
      await answer(`${s.consumer}: Max Waiting Pulls`);
    }
    for (const q of ["MONITOR (push): Delivery target", "MONITOR: Start policy", "MONITOR: Replay policy"]) {
      await answer(q);
    }
    await answer("Apply these changes?");
    expect(await exited).toBe(0);
    expect(out).toContain("note: differs from the seed in SHIP.ack_wait");
    expect(out).toContain("consumer ORDERS > COMPLETE: created");
    const jsm = await jetstreamManager(await connectTo(server));
    expect((await jsm.consumers.info("ORDERS", "SHIP")).config.ack_wait).toBe(nanos(45_000));
    expect((await jsm.consumers.info("ORDERS", "PAY")).config.filter_subject).toBe("ORDERS.reserved");
  });
});
