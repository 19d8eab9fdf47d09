import { jetstreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { describe, expect, it, onTestFinished } from "vitest";
import { consumerConfigs, DEFAULT_TOPOLOGY, streamConfig } from "../../src/topology/spec.js";
import { defaultWizardAnswers, seedDeviations, wizardPlan } from "../../src/topology/wizard-plan.js";
import { CLI, runCli } from "../helpers/cli.js";
import { connectTo } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { hasScript, spawnOnTerminal } from "../helpers/terminal.js";
import { waitFor } from "../helpers/wait.js";

const ENTER = "\r";
const DOWN = "\u001b[B";

/**
 * Runs `orderflow setup --interactive` on a pseudo-terminal (util-linux `script`) and answers each
 * prompt once its question has been printed: keys typed ahead of a prompt could reach the wrong one.
 */
function onTerminal(args: string[]) {
  const child = spawnOnTerminal([process.execPath, CLI, "setup", "--interactive", ...args], {
    ...process.env,
    ORDERFLOW_LOG_LEVEL: "warn",
    TERM: "xterm",
    NATS_URL: "",
  });
  let out = "";
  child.stdout.on("data", (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  onTestFinished(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  let seen = 0;
  return {
    output: () => out,
    exited,
    /** Waits for `question` after the previous one, then types `keys`. */
    async answer(question: string, keys = ENTER) {
      await waitFor(
        `the prompt "${question}" (output so far: ${out.slice(-300)})`,
        () => out.indexOf(question, seen) >= 0,
      );
      seen = out.indexOf(question, seen) + question.length;
      child.stdin.write(keys);
    },
  };
}

const QUESTIONS = [
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
  ...["NEW", "DISPATCH"].flatMap((c) => [
    `${c} (pull, ORDERS.${c === "NEW" ? "received" : "processed"}): Start policy`,
    `${c}: Replay policy`,
    `${c}: Acknowledgement wait`,
    `${c}: Maximum Allowed Deliveries`,
    `${c}: Maximum Acknowledgements Pending`,
    `${c}: Max Waiting Pulls`,
  ]),
  "MONITOR (push): Delivery target",
  "MONITOR: Start policy",
  "MONITOR: Replay policy",
];

describe("orderflow setup --interactive", () => {
  it("fails in one line when stdin is not a terminal", async () => {
    const res = await runCli(["setup", "--interactive"]);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe("");
    expect(res.stderr).toBe(
      "orderflow: setup --interactive needs a terminal, but stdin is not a TTY; run `orderflow setup` (with --replicas, --stream, --subject-prefix) instead\n",
    );
  });

  it.skipIf(!hasScript)(
    "on a terminal, asks each setting, shows the plan and applies the answers",
    async () => {
      const server = await startServer();
      const term = onTerminal(["-s", server.url]);
      const typed: Record<string, string> = {
        Storage: `${DOWN}${ENTER}`,
        "Message TTL": `1h${ENTER}`,
        "NEW: Acknowledgement wait": `10s${ENTER}`,
        "MONITOR (push): Delivery target": `watch.ORDERS${ENTER}`,
      };
      for (const q of QUESTIONS) await term.answer(q, typed[q] ?? ENTER);
      await term.answer("Apply these changes?", ENTER);
      expect(await term.exited).toBe(0);

      const out = term.output();
      expect(out).toContain("stream ORDERS: would create");
      expect(out).toContain(
        "note: differs from the seed in stream.storage, stream.max_age, NEW.ack_wait, MONITOR.deliver_subject",
      );
      expect(out).toContain("consumer ORDERS > MONITOR: created");

      const jsm = await jetstreamManager(await connectTo(server));
      const s = (await jsm.streams.info("ORDERS")).config;
      expect(s.storage).toBe("memory");
      expect(s.max_age).toBe(nanos(3_600_000));
      expect(s.duplicate_window).toBe(nanos(120_000));
      expect(s.subjects).toEqual(["ORDERS.*"]);
      expect((await jsm.consumers.info("ORDERS", "NEW")).config.ack_wait).toBe(nanos(10_000));
      expect((await jsm.consumers.info("ORDERS", "DISPATCH")).config.ack_wait).toBe(nanos(30_000));
      expect((await jsm.consumers.info("ORDERS", "MONITOR")).config.deliver_subject).toBe("watch.ORDERS");
    },
  );

  it.skipIf(!hasScript)("changes nothing when the operator answers no, or presses Ctrl-C", async () => {
    const server = await startServer();
    const no = onTerminal(["-s", server.url]);
    for (const q of QUESTIONS) await no.answer(q);
    await no.answer("Apply these changes?", `n${ENTER}`);
    expect(await no.exited).toBe(0);
    expect(no.output()).toContain("nothing was changed");

    const cancelled = onTerminal(["-s", server.url]);
    await cancelled.answer("Stream Name", "\u0003");
    expect(await cancelled.exited).toBe(1);
    expect(cancelled.output()).toContain("orderflow: setup cancelled; nothing was changed");

    const jsm = await jetstreamManager(await connectTo(server));
    expect((await jsm.streams.list().next()).length).toBe(0);
  });
});

describe("wizard answers → configs", () => {
  it("Enter at every question builds exactly the seed's topology", () => {
    const plan = wizardPlan(defaultWizardAnswers());
    expect(plan.topology).toEqual(DEFAULT_TOPOLOGY);
    expect(plan.stream).toEqual(streamConfig(DEFAULT_TOPOLOGY));
    expect(plan.consumers).toEqual(consumerConfigs(DEFAULT_TOPOLOGY));
    expect(seedDeviations(plan)).toEqual([]);
  });

  it("maps each answer to its server field", () => {
    const a = defaultWizardAnswers();
    const plan = wizardPlan({
      ...a,
      stream: "SHOP",
      subjectPrefix: "SHOP",
      retention: "interest",
      discard: "new",
      maxMsgs: 1000,
      maxBytes: 1 << 20,
      maxAgeMs: 0,
      duplicateWindowMs: 300_000,
      allowDelete: false,
      newConsumer: { ...a.newConsumer, maxDeliver: 5, maxAckPending: 200, deliverPolicy: "new" },
      monitor: { ...a.monitor, replayPolicy: "original" },
    });
    expect(plan.topology).toMatchObject({ stream: "SHOP", subjectPrefix: "SHOP" });
    expect(plan.stream).toMatchObject({
      name: "SHOP",
      subjects: ["SHOP.*"],
      retention: "interest",
      discard: "new",
      max_msgs: 1000,
      max_bytes: 1 << 20,
      max_age: 0,
      duplicate_window: nanos(300_000),
      deny_delete: true,
      deny_purge: false,
    });
    const [nw, dispatch, monitor] = plan.consumers;
    expect(nw).toMatchObject({
      filter_subject: "SHOP.received",
      max_deliver: 5,
      max_ack_pending: 200,
      deliver_policy: "new",
    });
    expect(dispatch).toMatchObject({ filter_subject: "SHOP.processed", max_deliver: -1 });
    expect(monitor).toMatchObject({
      deliver_subject: "monitor.ORDERS",
      replay_policy: "original",
      ack_policy: "none",
    });
    expect(seedDeviations(plan)).toEqual([
      "stream.retention",
      "stream.discard",
      "stream.max_msgs",
      "stream.max_bytes",
      "stream.duplicate_window",
      "stream.deny_delete",
      "NEW.deliver_policy",
      "NEW.max_deliver",
      "NEW.max_ack_pending",
      "MONITOR.replay_policy",
    ]);
  });
});
