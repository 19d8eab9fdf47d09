import { jetstream } from "@nats-io/jetstream";
import { type NatsConnection, headers as natsHeaders } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { ReplayHeader, ReplayState } from "../../src/orders/dead-letters.js";
import { parseOrderNo } from "../../src/stages/payload.js";
import { defineStage, dispatcherStage } from "../../src/stages/stage.js";
import { StageWorker } from "../../src/stages/stage-worker.js";
import { DEFAULT_TOPOLOGY } from "../../src/topology/spec.js";
import { startCli } from "../helpers/background-cli.js";
import { runCli } from "../helpers/cli.js";
import { connectTo, publishOrders, readSubject, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

const t = { ...DEFAULT_TOPOLOGY };

/** A processor whose handler fails every `bad-…` order until fixed; a normal dispatcher. */
async function pipelineWithBug(nc: NatsConnection) {
  const bug = { on: true };
  const processor = defineStage({
    name: "processor",
    consumer: "NEW",
    outputSubject: "ORDERS.processed",
    outputStage: "processed",
    parse: parseOrderNo,
    handle: async (order) => {
      if (bug.on && order.orderNo.startsWith("bad-")) throw new Error("payment service down");
      return `${order.orderNo},processed`;
    },
  });
  const workers = [
    new StageWorker(nc, processor, { maxAttempts: 2, retryBaseMs: 10, retryMaxMs: 20 }),
    new StageWorker(nc, dispatcherStage(t)),
  ];
  for (const w of workers) await w.start();
  return {
    fix: () => {
      bug.on = false;
    },
    stop: async () => {
      for (const w of workers) await w.stop();
    },
  };
}

async function publishBad(nc: NatsConnection, n: number) {
  const js = jetstream(nc);
  for (let i = 1; i <= n; i++) await js.publish("ORDERS.received", `bad-${i}`);
}

async function dlq(url: string, ...args: string[]) {
  const res = await runCli(["dead-letters", "-s", url, ...args]);
  expect(res.stderr).toBe("");
  expect(res.code).toBe(0);
  return res.stdout;
}

/** Completed orders, each counted: exactly once means every count is 1. */
async function completions(nc: NatsConnection): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const p of await readSubject(nc, "ORDERS.completed")) {
    const no = p.replace(/,completed$/, "");
    counts.set(no, (counts.get(no) ?? 0) + 1);
  }
  return counts;
}

describe("orderflow dead-letters", () => {
  it("lists dead letters with their error, replays them after the fix exactly once, and a second replay adds nothing", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const pipeline = await pipelineWithBug(nc);
    await publishOrders(nc, 5);
    await publishBad(nc, 10);
    await waitFor("dead letters and completions", async () => {
      const c = await subjectCounts(jsm);
      return c["ORDERS.failed"] === 10 && c["ORDERS.completed"] === 5;
    });

    const listed = JSON.parse(await dlq(server.url, "list", "--json"));
    expect(listed.total).toBe(10);
    expect(listed.deadLetters[0]).toMatchObject({
      stage: "processor",
      reason: "max-attempts",
      error: "payment service down",
      orderNo: "bad-10",
      deliveries: 2,
      sourceSubject: "ORDERS.received",
      replayed: false,
    });
    // Newest first.
    expect(listed.deadLetters.map((d: { seq: number }) => d.seq)).toEqual(
      [...listed.deadLetters.map((d: { seq: number }) => d.seq)].sort((a, b) => b - a),
    );
    const paged = JSON.parse(await dlq(server.url, "list", "--json", "--limit", "4", "--page", "3"));
    expect(paged.deadLetters.map((d: { orderNo: string }) => d.orderNo)).toEqual(["bad-2", "bad-1"]);
    const one = JSON.parse(await dlq(server.url, "list", "--json", "--order", "bad-3"));
    expect(one.total).toBe(1);
    const shown = await dlq(server.url, "show", String(one.deadLetters[0].seq));
    expect(shown).toContain("Orderflow-Error: payment service down");
    expect(shown).toMatch(/^payload: bad-3$/m);

    const dry = await dlq(server.url, "replay", "--all", "--dry-run");
    expect(dry.trim()).toBe("would replay 10, already replayed 0, skipped 0");
    expect((await subjectCounts(jsm))["ORDERS.received"]).toBe(15);

    pipeline.fix();
    expect((await dlq(server.url, "replay", "--reason", "max-attempts")).trim()).toBe(
      "replayed 10, already replayed 0, skipped 0",
    );
    await waitFor(
      "replayed orders completed",
      async () => (await subjectCounts(jsm))["ORDERS.completed"] === 15,
    );
    const done = await completions(nc);
    expect(done.size).toBe(15);
    expect([...done.values()].every((n) => n === 1)).toBe(true);

    // The order's timeline: the failure, then the replay, then its completion.
    const timeline = await runCli(["order", "-s", server.url, "bad-3"]);
    expect(timeline.code).toBe(0);
    expect(timeline.stdout).toMatch(/^order bad-3: completed /m);
    const stages = timeline.stdout
      .split("\n")
      .filter((l) => /^\s+\d{4}-/.test(l))
      .map((l) =>
        l.includes("replay of dead letter seq") ? "replay" : (l.trim().split(/\s+/)[2] as string),
      );
    expect(stages).toEqual(["received", "failed", "replay", "processed", "completed"]);

    const again = await dlq(server.url, "replay", "--all");
    expect(again.trim().split("\n").at(-1)).toBe("replayed 0, already replayed 10, skipped 0");
    expect(again).toMatch(/^seq \d+: skipped: already replayed \(--force to replay again\)$/m);
    const counts = await subjectCounts(jsm);
    expect(counts["ORDERS.received"]).toBe(25);
    expect(
      JSON.parse(await dlq(server.url, "list", "--json")).deadLetters.every(
        (d: { replayed: boolean }) => d.replayed,
      ),
    ).toBe(true);
    // Nothing is refused silently: a missing sequence is counted with its reason.
    const missing = await dlq(server.url, "replay", "99999");
    expect(missing).toContain("seq 99999: skipped: no such dead letter");
    expect(missing.trim().split("\n").at(-1)).toBe("replayed 0, already replayed 0, skipped 1");
    await pipeline.stop();
  });

  it("finishes a replay killed between its steps without republishing twice", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const pipeline = await pipelineWithBug(nc);
    await publishBad(nc, 3);
    await waitFor("dead letters", async () => (await subjectCounts(jsm))["ORDERS.failed"] === 3);
    const seqs: number[] = JSON.parse(await dlq(server.url, "list", "--json"))
      .deadLetters.map((d: { seq: number }) => d.seq)
      .sort((a: number, b: number) => a - b);
    const [a, b] = seqs as [number, number, number];
    await pipeline.stop();
    const js = jetstream(nc);
    const marker = (of: number) => {
      const h = natsHeaders();
      h.set(ReplayHeader.Of, String(of));
      h.set(ReplayHeader.State, ReplayState.Intent);
      h.set(ReplayHeader.Round, "1");
      return js.publish("ORDERS.replayed", "", { headers: h, msgID: `replay:${of}` });
    };
    // a: killed after its intent, before the republish. b: killed after the republish, before done.
    await marker(a);
    await marker(b);
    const h = natsHeaders();
    h.set(ReplayHeader.Of, String(b));
    h.set(ReplayHeader.Round, "1");
    await js.publish("ORDERS.received", "bad-2", { headers: h, msgID: `replay:${b}:input` });
    const listed = JSON.parse(await dlq(server.url, "list", "--json"));
    expect(listed.deadLetters.filter((d: { interrupted: boolean }) => d.interrupted)).toHaveLength(2);

    const fixed = await pipelineWithBug(nc);
    fixed.fix();
    const out = await dlq(server.url, "replay", "--all", "--json");
    const summary = JSON.parse(out);
    expect(summary).toMatchObject({ replayed: 2, resumed: 1, alreadyReplayed: 0, skipped: 0 });
    await waitFor("all three completed", async () => (await subjectCounts(jsm))["ORDERS.completed"] === 3);
    expect((await subjectCounts(jsm))["ORDERS.received"]).toBe(6);
    const done = await completions(nc);
    expect([...done.entries()].sort()).toEqual([
      ["bad-1", 1],
      ["bad-2", 1],
      ["bad-3", 1],
    ]);
    await fixed.stop();
  });

  it("a replay SIGKILLed half-way and run again completes the rest, each order exactly once", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const n = 300;
    const pipeline = await pipelineWithBug(nc);
    await publishBad(nc, n);
    await waitFor("dead letters", async () => (await subjectCounts(jsm))["ORDERS.failed"] === n, {
      timeoutMs: 60_000,
    });
    pipeline.fix();

    const first = startCli(["dead-letters", "-s", server.url, "replay", "--all"]);
    await waitFor(
      "part of the replay",
      async () => ((await subjectCounts(jsm))["ORDERS.replayed"] ?? 0) >= 100,
    );
    first.child.kill("SIGKILL");
    await first.exited;
    const markers = (await subjectCounts(jsm))["ORDERS.replayed"] ?? 0;
    expect(markers).toBeLessThan(2 * n);

    const summary = JSON.parse(await dlq(server.url, "replay", "--all", "--json"));
    expect(summary.skipped).toBe(0);
    // A kill between a republish and its done marker leaves one to resume: finished, not republished.
    expect(summary.replayed + summary.resumed + summary.alreadyReplayed).toBe(n);
    expect(summary.alreadyReplayed).toBeGreaterThan(0);
    await waitFor("every order completed", async () => (await subjectCounts(jsm))["ORDERS.completed"] === n, {
      timeoutMs: 60_000,
    });
    expect((await subjectCounts(jsm))["ORDERS.received"]).toBe(2 * n);
    const done = await completions(nc);
    expect(done.size).toBe(n);
    expect([...done.values()].every((c) => c === 1)).toBe(true);
    await pipeline.stop();
  });
});
