import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { type BackgroundCli, startCli } from "../helpers/background-cli.js";
import { runCli } from "../helpers/cli.js";
import { connectTo, publishOrders, readStored, subjectCounts } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

/**
 * Changing a running pipeline (docs/pipeline-changes.md), on real servers and real worker processes:
 * a stage put between two running ones, and a stage taken out.
 */

const PROCESSOR = { name: "processor", consumer: "NEW", input: "received", output: "processed" };
const DISPATCHER = { name: "dispatcher", consumer: "DISPATCH", input: "processed", output: "completed" };
const SEED = [PROCESSOR, DISPATCHER];
const WITH_CHECKER = [
  { name: "processor", consumer: "NEW", input: "received", output: "processed" },
  { name: "checker", consumer: "CHECK", input: "processed", output: "checked" },
  { name: "dispatcher", consumer: "DISPATCH", input: "checked", output: "completed" },
];

/** A pipeline file (JSON) with these stages, in a fresh directory. */
function pipelineFile(stages: object[]): string {
  const file = join(mkdtempSync(join(tmpdir(), "orderflow-pipeline-")), "orderflow.config.json");
  writeFileSync(file, JSON.stringify({ stages }));
  return file;
}

/** `orderflow worker <stage>` with the pipeline file, once it has logged its start line. */
async function startStage(url: string, stage: string, config: string): Promise<BackgroundCli> {
  const p = startCli(["--config", config, "worker", stage, "-s", url], { ORDERFLOW_LOG_LEVEL: "info" });
  await waitFor(`the ${stage} start line`, () => {
    if (p.child.exitCode !== null) throw new Error(`${stage} exited:\n${p.stderr()}`);
    return p.stderr().includes(`"${stage} started"`);
  });
  return p;
}

const text = (b: Uint8Array) => new TextDecoder("utf-8", { fatal: true }).decode(b);

/** Each stored message of `subject` by order number: [payload, stream sequence][]. */
async function byOrder(nc: Awaited<ReturnType<typeof connectTo>>, subject: string) {
  const out = new Map<string, Array<{ payload: string; seq: number }>>();
  for (const m of await readStored(nc, subject)) {
    const payload = text(m.data);
    const orderNo = payload.split(",")[0] as string;
    out.set(orderNo, [...(out.get(orderNo) ?? []), { payload, seq: m.seq }]);
  }
  return out;
}

describe("changing a running pipeline", () => {
  it("a stage inserted between two running ones while 10,000 orders flow: each order completes exactly once, none lost, none checked twice or bypassing the checker", async () => {
    const N = 10_000;
    const server = await startServer();
    const seed = pipelineFile(SEED);
    const next = pipelineFile(WITH_CHECKER);
    expect((await runCli(["--config", seed, "setup", "-s", server.url])).code).toBe(0);
    const nc = await connectTo(server);
    const jsm = await jetstreamManager(nc);

    // The processor runs from the first order to the last: the stage upstream never stops.
    const processor = await startStage(server.url, "processor", seed);
    const dispatcher = await startStage(server.url, "dispatcher", seed);
    await publishOrders(nc, 3_000, { first: 1 });
    await waitFor("the dispatcher at work", async () => (await subjectCounts(jsm))["ORDERS.completed"]);

    // Orders keep coming while the dispatcher is stopped (it drains what it holds) and setup runs.
    const during = publishOrders(nc, 3_000, { first: 3_001 });
    expect(await dispatcher.interrupt()).toBe(0);
    await during;
    const dispatchBefore = await jsm.consumers.info("ORDERS", "DISPATCH");
    const setup = await runCli(["--config", next, "setup", "-s", server.url]);
    expect(setup.stderr).toBe("");
    expect(setup.code).toBe(0);
    expect(setup.stdout).toContain("consumer ORDERS > CHECK: created");
    expect(setup.stdout).toContain("consumer ORDERS > DISPATCH: re-pointed");
    expect(setup.stdout).toContain("filter_subject: ORDERS.processed -> ORDERS.checked");

    // CHECK starts exactly where DISPATCH stopped; DISPATCH reads ORDERS.checked from there on.
    const check = await jsm.consumers.info("ORDERS", "CHECK");
    const stoppedAt = dispatchBefore.delivered.stream_seq;
    expect(check.config.deliver_policy).toBe("by_start_sequence");
    expect(check.config.opt_start_seq).toBe(stoppedAt + 1);
    expect((await jsm.consumers.info("ORDERS", "DISPATCH")).config.filter_subject).toBe("ORDERS.checked");

    await publishOrders(nc, 2_000, { first: 6_001 });
    const after = publishOrders(nc, 2_000, { first: 8_001 });
    const checker = await startStage(server.url, "checker", next);
    const dispatcher2 = await startStage(server.url, "dispatcher", next);
    await after;
    await waitFor(`${N} orders completed`, async () => (await subjectCounts(jsm))["ORDERS.completed"] === N, {
      timeoutMs: 60_000,
    });
    for (const p of [checker, dispatcher2, processor]) expect(await p.interrupt()).toBe(0);
    for (const c of ["NEW", "CHECK", "DISPATCH"]) {
      const ci = await jsm.consumers.info("ORDERS", c);
      expect([c, ci.num_pending, ci.num_ack_pending]).toEqual([c, 0, 0]);
    }

    const processed = await byOrder(nc, "ORDERS.processed");
    const checked = await byOrder(nc, "ORDERS.checked");
    const completed = await byOrder(nc, "ORDERS.completed");
    let direct = 0;
    for (let n = 1; n <= N; n++) {
      const no = String(n);
      const p = processed.get(no) ?? [];
      const c = completed.get(no) ?? [];
      const k = checked.get(no) ?? [];
      expect(
        p.map((m) => m.payload),
        `order ${no} processed`,
      ).toEqual([`${no},processed`]);
      expect(
        c.map((m) => m.payload),
        `order ${no} completed`,
      ).toEqual([`${no},completed`]);
      const processedSeq = (p[0] as { seq: number }).seq;
      if (processedSeq <= stoppedAt) {
        // Dispatched before the change: never checked (that would be handling it twice).
        expect(k, `order ${no} (processed at ${processedSeq}, before the change) checked`).toEqual([]);
        direct++;
      } else {
        // After the change: checked once, and completed from its checked message, not directly.
        expect(
          k.map((m) => m.payload),
          `order ${no} checked`,
        ).toEqual([`${no},checked`]);
        expect((c[0] as { seq: number }).seq).toBeGreaterThan((k[0] as { seq: number }).seq);
      }
    }
    expect(processed.size).toBe(N);
    expect(completed.size).toBe(N);
    // Both paths were taken: the change happened mid-flow, with orders on either side of it.
    expect(direct).toBeGreaterThan(0);
    expect(checked.size).toBe(N - direct);
    expect(checked.size).toBeGreaterThan(0);

    // Afterwards the pipeline file and the server agree: CHECK's start position is not drift.
    const again = await runCli(["--config", next, "setup", "-s", server.url]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("topology ORDERS is up to date");
  }, 180_000);

  it("a stage taken out from between two running ones while orders flow: the stage after it takes over where it stopped, and its consumer is pruned", async () => {
    const N = 6_000;
    const server = await startServer();
    const three = pipelineFile(WITH_CHECKER);
    const two = pipelineFile(SEED);
    expect((await runCli(["--config", three, "setup", "-s", server.url])).code).toBe(0);
    const nc = await connectTo(server);
    const jsm = await jetstreamManager(nc);
    const processor = await startStage(server.url, "processor", three);
    const checker = await startStage(server.url, "checker", three);
    const dispatcher = await startStage(server.url, "dispatcher", three);
    await publishOrders(nc, 2_000, { first: 1 });
    await waitFor("the checker at work", async () => (await subjectCounts(jsm))["ORDERS.checked"]);

    // Stop the stage going away; the one after it reads what it wrote until nothing is left, then stops.
    const during = publishOrders(nc, 2_000, { first: 2_001 });
    expect(await checker.interrupt()).toBe(0);
    await waitFor("DISPATCH drained ORDERS.checked", async () => {
      const ci = await jsm.consumers.info("ORDERS", "DISPATCH");
      return ci.num_pending === 0 && ci.num_ack_pending === 0;
    });
    expect(await dispatcher.interrupt()).toBe(0);
    await during;
    const stoppedAt = (await jsm.consumers.info("ORDERS", "CHECK")).delivered.stream_seq;

    const setup = await runCli(["--config", two, "setup", "-s", server.url]);
    expect(setup.stderr).toBe("");
    expect(setup.code).toBe(0);
    expect(setup.stdout).toContain("consumer ORDERS > DISPATCH: re-pointed");
    expect(setup.stdout).toContain(`starts at stream sequence ${stoppedAt + 1} (where CHECK stopped`);
    expect(setup.stdout).toMatch(/consumer ORDERS > CHECK: not declared .*DISPATCH reads its orders/);
    // CHECK has orders pending, but DISPATCH reads them all: pruning it loses nothing, so no --force.
    const prune = await runCli(["--config", two, "setup", "--prune", "-s", server.url]);
    expect(prune.stderr).toBe("");
    expect(prune.code).toBe(0);
    expect(prune.stdout).toContain("consumer ORDERS > CHECK: deleted");
    expect((await jsm.consumers.list("ORDERS").next()).map((c) => c.name).sort()).toEqual([
      "DISPATCH",
      "MONITOR",
      "NEW",
    ]);

    const after = publishOrders(nc, 2_000, { first: 4_001 });
    const dispatcher2 = await startStage(server.url, "dispatcher", two);
    await after;
    await waitFor(`${N} orders completed`, async () => (await subjectCounts(jsm))["ORDERS.completed"] === N, {
      timeoutMs: 60_000,
    });
    for (const p of [dispatcher2, processor]) expect(await p.interrupt()).toBe(0);

    const processed = await byOrder(nc, "ORDERS.processed");
    const checked = await byOrder(nc, "ORDERS.checked");
    const completed = await byOrder(nc, "ORDERS.completed");
    let viaChecker = 0;
    for (let n = 1; n <= N; n++) {
      const no = String(n);
      const p = processed.get(no) ?? [];
      const c = completed.get(no) ?? [];
      const k = checked.get(no) ?? [];
      expect(
        p.map((m) => m.payload),
        `order ${no} processed`,
      ).toEqual([`${no},processed`]);
      expect(
        c.map((m) => m.payload),
        `order ${no} completed`,
      ).toEqual([`${no},completed`]);
      if ((p[0] as { seq: number }).seq <= stoppedAt) {
        expect(
          k.map((m) => m.payload),
          `order ${no} checked`,
        ).toEqual([`${no},checked`]);
        viaChecker++;
      } else {
        expect(k, `order ${no} checked after the checker was taken out`).toEqual([]);
      }
    }
    expect(viaChecker).toBeGreaterThan(0);
    expect(viaChecker).toBeLessThan(N);
    expect((await runCli(["--config", two, "setup", "-s", server.url])).stdout).toContain(
      "topology ORDERS is up to date",
    );
  }, 180_000);

  it("a stage's consumer renamed: the new consumer takes over where the old one stopped, not from the beginning", async () => {
    const N = 4_000;
    const server = await startServer();
    const seed = pipelineFile(SEED);
    const renamed = pipelineFile([PROCESSOR, { ...DISPATCHER, consumer: "SEND" }]);
    expect((await runCli(["--config", seed, "setup", "-s", server.url])).code).toBe(0);
    const nc = await connectTo(server);
    const jsm = await jetstreamManager(nc);
    const processor = await startStage(server.url, "processor", seed);
    const dispatcher = await startStage(server.url, "dispatcher", seed);
    await publishOrders(nc, 2_000, { first: 1 });
    await waitFor("the dispatcher at work", async () => (await subjectCounts(jsm))["ORDERS.completed"]);

    const refused = await runCli(["--config", renamed, "setup", "-s", server.url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /^orderflow: consumer ORDERS > SEND: cannot take ORDERS\.processed over from DISPATCH now: \d+ pull request\(s\) wait on it.*; stop the workers reading DISPATCH/,
    );
    const during = publishOrders(nc, 1_000, { first: 2_001 });
    expect(await dispatcher.interrupt()).toBe(0);
    await during;
    const stoppedAt = (await jsm.consumers.info("ORDERS", "DISPATCH")).delivered.stream_seq;
    const setup = await runCli(["--config", renamed, "setup", "--prune", "-s", server.url]);
    expect(setup.stderr).toBe("");
    expect(setup.code).toBe(0);
    expect(setup.stdout).toContain(`starts at stream sequence ${stoppedAt + 1} (where DISPATCH stopped`);
    expect(setup.stdout).toContain("consumer ORDERS > DISPATCH: deleted");

    const after = publishOrders(nc, 1_000, { first: 3_001 });
    const dispatcher2 = await startStage(server.url, "dispatcher", renamed);
    await after;
    await waitFor(`${N} orders completed`, async () => (await subjectCounts(jsm))["ORDERS.completed"] === N, {
      timeoutMs: 60_000,
    });
    await waitFor("SEND settled", async () => {
      const ci = await jsm.consumers.info("ORDERS", "SEND");
      return ci.num_pending === 0 && ci.num_ack_pending === 0;
    });
    for (const p of [dispatcher2, processor]) expect(await p.interrupt()).toBe(0);
    const processed = await readStored(nc, "ORDERS.processed");
    const completed = await byOrder(nc, "ORDERS.completed");
    expect(processed).toHaveLength(N);
    for (let n = 1; n <= N; n++)
      expect(completed.get(String(n))?.map((m) => m.payload)).toEqual([`${n},completed`]);
    // SEND was handed exactly the orders DISPATCH had not read: none of them twice, none skipped.
    const send = await jsm.consumers.info("ORDERS", "SEND");
    const left = processed.filter((m) => m.seq > stoppedAt).length;
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(N);
    expect(send.delivered.consumer_seq).toBe(left);
    expect(send.num_redelivered).toBe(0);
  }, 180_000);

  it("a stage's output renamed (processed -> made, the dispatcher following): refused while the processor's old workers run, as they would keep writing what nothing reads; none lost after", async () => {
    const server = await startServer();
    const seed = pipelineFile(SEED);
    const renamed = pipelineFile([
      { ...PROCESSOR, output: "made" },
      { ...DISPATCHER, input: "made" },
    ]);
    expect((await runCli(["--config", seed, "setup", "-s", server.url])).code).toBe(0);
    const nc = await connectTo(server);
    const jsm = await jetstreamManager(nc);
    const processor = await startStage(server.url, "processor", seed);
    const dispatcher = await startStage(server.url, "dispatcher", seed);
    await publishOrders(nc, 200, { first: 1 });
    await waitFor("200 completed", async () => (await subjectCounts(jsm))["ORDERS.completed"] === 200);
    expect(await dispatcher.interrupt()).toBe(0);
    await waitFor("the processor's pull requests", async () => {
      return (await jsm.consumers.info("ORDERS", "NEW")).num_waiting > 0;
    });

    // DISPATCH has nothing unread, but the processor's workers would write the next orders to
    // ORDERS.processed, which nothing reads once DISPATCH moves.
    const refused = await runCli(["--config", renamed, "setup", "-s", server.url]);
    expect(refused.code).toBe(1);
    const lines = refused.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^orderflow: consumer ORDERS > DISPATCH: cannot re-point from ORDERS\.processed to ORDERS\.made now: the processor workers are running \(\d+ pull request\(s\) wait on NEW\) and may still write ORDERS\.processed, which no declared stage reads any more; stop the processor workers first/,
    );
    expect((await jsm.consumers.info("ORDERS", "DISPATCH")).config.filter_subject).toBe("ORDERS.processed");

    expect(await processor.interrupt()).toBe(0);
    const setup = await runCli(["--config", renamed, "setup", "-s", server.url]);
    expect(setup.stderr).toBe("");
    expect(setup.code).toBe(0);
    expect(setup.stdout).toContain("consumer ORDERS > DISPATCH: re-pointed");

    const processor2 = await startStage(server.url, "processor", renamed);
    const dispatcher2 = await startStage(server.url, "dispatcher", renamed);
    await publishOrders(nc, 200, { first: 201 });
    await waitFor("400 completed", async () => (await subjectCounts(jsm))["ORDERS.completed"] === 400);
    for (const p of [processor2, dispatcher2]) expect(await p.interrupt()).toBe(0);
    const completed = await byOrder(nc, "ORDERS.completed");
    for (let n = 1; n <= 400; n++)
      expect(completed.get(String(n))?.map((m) => m.payload)).toEqual([`${n},completed`]);
    const counts = await subjectCounts(jsm);
    expect([counts["ORDERS.processed"], counts["ORDERS.made"]]).toEqual([200, 200]);
  }, 120_000);

  it("refuses to re-point a consumer whose workers are running, in one line with the hint, changing nothing", async () => {
    const server = await startServer();
    const seed = pipelineFile(SEED);
    expect((await runCli(["--config", seed, "setup", "-s", server.url])).code).toBe(0);
    await startStage(server.url, "dispatcher", seed);
    const nc = await connectTo(server);
    const jsm = await jetstreamManager(nc);
    await waitFor("the dispatcher's pull requests", async () => {
      return (await jsm.consumers.info("ORDERS", "DISPATCH")).num_waiting > 0;
    });

    const dry = await runCli([
      "--config",
      pipelineFile(WITH_CHECKER),
      "setup",
      "--dry-run",
      "-s",
      server.url,
    ]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("consumer ORDERS > DISPATCH: would re-point");
    expect(dry.stdout).toMatch(
      /not now: \d+ pull request\(s\) wait on it: the dispatcher workers are running/,
    );

    const res = await runCli(["--config", pipelineFile(WITH_CHECKER), "setup", "-s", server.url]);
    expect(res.code).toBe(1);
    const lines = res.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^orderflow: consumer ORDERS > DISPATCH: cannot re-point from ORDERS\.processed to ORDERS\.checked now: \d+ pull request\(s\) wait on it: the dispatcher workers are running; stop the dispatcher workers/,
    );
    expect(res.stderr).not.toMatch(/\bat .*\.js:\d+/);
    const names = (await jsm.consumers.list("ORDERS").next()).map((c) => c.name).sort();
    expect(names).toEqual(["DISPATCH", "MONITOR", "NEW"]);
    expect((await jsm.consumers.info("ORDERS", "DISPATCH")).config.filter_subject).toBe("ORDERS.processed");
  });

  it("a stage consumer no longer declared is reported; --prune deletes it when empty, refuses while it has pending orders unless --force", async () => {
    const server = await startServer();
    const onlyProcessor = pipelineFile(SEED.slice(0, 1));
    expect((await runCli(["setup", "-s", server.url])).code).toBe(0);
    const nc = await connectTo(server);
    const jsm = await jetstreamManager(nc);

    // Empty: reported, kept without --prune, deleted with it.
    const report = await runCli(["--config", onlyProcessor, "setup", "-s", server.url]);
    expect(report.code).toBe(0);
    expect(report.stdout).toContain(
      "consumer ORDERS > DISPATCH: not declared (reads ORDERS.processed; 0 pending, 0 in flight, 0 waiting pulls); `orderflow setup --prune` deletes it",
    );
    expect((await jsm.consumers.info("ORDERS", "DISPATCH")).name).toBe("DISPATCH");
    const dry = await runCli(["--config", onlyProcessor, "setup", "--prune", "--dry-run", "-s", server.url]);
    expect(dry.stdout).toContain("consumer ORDERS > DISPATCH: would delete");
    expect((await jsm.consumers.info("ORDERS", "DISPATCH")).name).toBe("DISPATCH");
    const pruned = await runCli(["--config", onlyProcessor, "setup", "--prune", "-s", server.url]);
    expect(pruned.stderr).toBe("");
    expect(pruned.stdout).toContain("consumer ORDERS > DISPATCH: deleted");
    expect((await jsm.consumers.list("ORDERS").next()).map((c) => c.name).sort()).toEqual(["MONITOR", "NEW"]);

    // Pending orders nobody else reads: refused in one line naming them, unless forced.
    expect((await runCli(["setup", "-s", server.url])).code).toBe(0);
    await publishOrders(nc, 5, { subject: "ORDERS.processed" });
    const refused = await runCli(["--config", onlyProcessor, "setup", "--prune", "-s", server.url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      "orderflow: consumer ORDERS > DISPATCH: not deleted: 5 order(s) on ORDERS.processed are pending on it and no declared stage reads them; stop its workers and let the orders drain, or add --force to delete it anyway (its pending orders are then not handled)\n",
    );
    expect((await jsm.consumers.info("ORDERS", "DISPATCH")).num_pending).toBe(5);
    const forced = await runCli(["--config", onlyProcessor, "setup", "--prune", "--force", "-s", server.url]);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain("consumer ORDERS > DISPATCH: deleted");
    expect((await jsm.consumers.list("ORDERS").next()).map((c) => c.name).sort()).toEqual(["MONITOR", "NEW"]);

    const usage = await runCli(["setup", "--force", "-s", server.url]);
    expect(usage.code).toBe(1);
    expect(usage.stderr).toBe("orderflow: --force goes with --prune; add --prune, or drop --force\n");
  });
});
