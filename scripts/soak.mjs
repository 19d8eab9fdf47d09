#!/usr/bin/env node
// Soak: 100,000 orders through real worker processes while workers are SIGKILLed and the
// nats-server is SIGKILLed and restarted on its store; then every completed payload is read back to
// prove that no order was lost or stored twice. Run `npm run build` first (`npm run soak` does).
//
//   node scripts/soak.mjs [--orders 100000] [--rate 2500] [--kill-every 2500] [--server-crashes 2]
//                         [--outage 1500] [--ack-wait 2000] [--timeout 300]
//
// Prints the per-subject counts and "0 lost, 0 duplicated" (exit 0), or how many were lost and
// duplicated (exit 1). Starts its own nats-server with a fresh store; never touches another one.

import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { formatNumber, table } from "../dist/common/format.js";
import { LoggedChild, OutputWait } from "../dist/common/logged-child.js";
import { NatsServer } from "../dist/common/nats-server.js";
import { ensureTopology } from "../dist/topology/ensure.js";
import { DEFAULT_TOPOLOGY } from "../dist/topology/spec.js";

const CLI = fileURLToPath(new URL("../dist/main.js", import.meta.url));
const STAGES = /** @type {const} */ (["processor", "dispatcher"]);
const STAGE_CONSUMERS = ["NEW", "DISPATCH"];

const { values: flags } = parseArgs({
  options: {
    orders: { type: "string", default: "100000" },
    rate: { type: "string", default: "2500" },
    "kill-every": { type: "string", default: "2500" },
    "server-crashes": { type: "string", default: "2" },
    outage: { type: "string", default: "1500" },
    "ack-wait": { type: "string", default: "2000" },
    timeout: { type: "string", default: "300" },
  },
});

/** @param {string} name */
function intFlag(name) {
  const v = Number(flags[name]);
  if (!Number.isInteger(v) || v < 0) {
    process.stderr.write(`soak: --${name} must be a whole number, got "${flags[name]}"\n`);
    process.exit(2);
  }
  return v;
}

const N = intFlag("orders");
const RATE = intFlag("rate");
const KILL_EVERY_MS = intFlag("kill-every");
const SERVER_CRASHES = intFlag("server-crashes");
const OUTAGE_MS = intFlag("outage");
const ACK_WAIT_MS = intFlag("ack-wait");
const DEADLINE = Date.now() + intFlag("timeout") * 1000;

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
const say = (/** @type {string} */ line) => process.stdout.write(`[${elapsed()}] ${line}\n`);

/** @param {string} what @param {unknown} [lastError] what went wrong last, if anything */
function checkDeadline(what, lastError) {
  if (Date.now() <= DEADLINE) return;
  const last = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
  throw new Error(`time is up (--timeout) while ${what}${last}`);
}

/** One `orderflow worker <stage>` process; its JSON log lines are kept for the figures at the end. */
class Worker {
  /** @param {"processor" | "dispatcher"} stage @param {string} url */
  constructor(stage, url, args = []) {
    this.stage = stage;
    this.process = new LoggedChild(process.execPath, [CLI, "worker", stage, "-s", url, ...args], {
      env: { ...process.env, ORDERFLOW_LOG_LEVEL: "info" },
      logLimit: 1_000_000,
    });
    this.child = this.process.child;
    this.exited = this.process.exited;
  }

  get output() {
    return this.process.output();
  }

  get alive() {
    return this.process.running;
  }

  /** True once the worker logged its start line; false when it exited first (server down). */
  async started() {
    const how = await this.process.waitForOutput(
      `"${this.stage} started"`,
      Math.max(0, DEADLINE - Date.now()),
    );
    if (how === OutputWait.TimedOut) checkDeadline(`starting the ${this.stage}`);
    return how === OutputWait.Seen;
  }

  async kill() {
    await this.process.kill("SIGKILL");
  }

  /** @returns {Array<Record<string, unknown>>} */
  logLines() {
    return this.output
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l));
  }
}

/**
 * Publishes orders 1..N at RATE per second, each with Nats-Msg-Id `<n>:received`, retrying a publish
 * until it is stored (the server may be down): a retry of a stored one is a duplicate, not an order.
 * `progress.stored` counts PubAcks as they come, so faults can be timed without asking the server.
 * @param {import("@nats-io/nats-core").NatsConnection} nc
 * @param {{ stored: number, retries: number }} progress
 */
async function publishOrders(nc, progress) {
  const js = jetstream(nc, { timeout: 2_000 });
  const start = Date.now();
  let next = 1;
  const lane = async () => {
    for (let i = next++; i <= N; i = next++) {
      if (RATE > 0) await sleep(start + (i * 1000) / RATE - Date.now());
      for (;;) {
        try {
          await js.publish("ORDERS.received", String(i), { msgID: `${i}:received` });
          progress.stored++;
          break;
        } catch (err) {
          // Expected while the server is down; the deadline reports the last one if it never ends.
          progress.retries++;
          checkDeadline(`publishing order ${i}`, err);
          await sleep(100);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: 200 }, lane));
}

/** @param {import("@nats-io/jetstream").JetStreamManager} jsm */
async function subjectCounts(jsm) {
  const info = await jsm.streams.info("ORDERS", { subjects_filter: ">" });
  return info.state.subjects ?? {};
}

/** The last failed read of the counts, reported if the soak runs out of time. */
let lastCountError;

/** Counts, or undefined while the server is away (it is being crashed on purpose). */
async function countsOrNothing(/** @type {import("@nats-io/jetstream").JetStreamManager} */ jsm) {
  try {
    return await subjectCounts(jsm);
  } catch (err) {
    lastCountError = err;
    return undefined;
  }
}

/**
 * Every `<orderNo>,completed` payload in the stream, read through an ephemeral consumer, compared
 * with 1..N. Counting alone cannot tell one lost + one duplicated order from none.
 * @param {import("@nats-io/nats-core").NatsConnection} nc
 */
async function audit(nc, expected) {
  const jsm = await jetstreamManager(nc);
  const seen = new Map();
  if (expected > 0) {
    const ci = await jsm.consumers.add("ORDERS", {
      filter_subject: "ORDERS.completed",
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.All,
      inactive_threshold: nanos(60_000),
      mem_storage: true,
    });
    const c = await jetstream(nc).consumers.get("ORDERS", ci.name);
    const it = await c.consume({ max_messages: 5_000 });
    let read = 0;
    for await (const m of it) {
      const p = m.string();
      seen.set(p, (seen.get(p) ?? 0) + 1);
      if (++read >= expected) break;
    }
    await jsm.consumers.delete("ORDERS", ci.name);
  }
  let lost = 0;
  for (let i = 1; i <= N; i++) if (!seen.has(`${i},completed`)) lost++;
  let duplicated = 0;
  let unexpected = 0;
  for (const [p, k] of seen) {
    if (k > 1) duplicated += k - 1;
    const no = Number(p.slice(0, p.indexOf(",")));
    if (!p.endsWith(",completed") || !Number.isInteger(no) || no < 1 || no > N) unexpected += k;
  }
  return { lost, duplicated, unexpected };
}

async function main() {
  const server = await NatsServer.start({ maxFileStore: "4G" });
  /** @type {Worker[]} */
  const workers = [];
  const current = new Map();
  const stopEverything = async () => {
    await Promise.all(workers.map((w) => w.kill()));
    await server.cleanup();
  };
  process.once("SIGINT", () => {
    void stopEverything().then(() => process.exit(130));
  });
  try {
    say(`nats-server ${server.url}, store ${server.storeDir}`);
    const nc = await connect({
      servers: server.url,
      name: "soak",
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    const jsm = await jetstreamManager(nc);
    await ensureTopology(jsm, { ...DEFAULT_TOPOLOGY });
    // Deliveries held by a killed worker come back after the ack wait; 30 s would make the soak long.
    for (const c of STAGE_CONSUMERS)
      await jsm.consumers.update("ORDERS", c, { ack_wait: nanos(ACK_WAIT_MS) });

    // As a supervisor would: a worker that cannot start (the server is down) is started again.
    let failedStarts = 0;
    const startWorker = async (/** @type {"processor" | "dispatcher"} */ stage) => {
      for (;;) {
        const w = new Worker(stage, server.url);
        workers.push(w);
        current.set(stage, w);
        if (await w.started()) return;
        failedStarts++;
        await sleep(500);
      }
    };
    await Promise.all(STAGES.map(startWorker));
    say(`workers up; publishing ${formatNumber(N)} orders at ${formatNumber(RATE)}/s`);

    let publishing = true;
    const faults = { workerKills: 0, serverCrashes: 0 };
    const progress = { stored: 0, retries: 0 };
    const publisher = publishOrders(nc, progress).finally(() => {
      publishing = false;
    });

    // Worker kills: alternate stages every KILL_EVERY_MS while orders are still arriving.
    const killer = (async () => {
      for (let k = 0; KILL_EVERY_MS > 0; k++) {
        await sleep(KILL_EVERY_MS);
        if (!publishing) return;
        const stage = STAGES[k % 2];
        await current.get(stage)?.kill();
        faults.workerKills++;
        await startWorker(stage);
      }
    })();

    // Server crashes: SIGKILL at even fractions of the published orders, down for OUTAGE_MS.
    const crasher = (async () => {
      for (let c = 1; c <= SERVER_CRASHES; c++) {
        const at = Math.floor((c * N) / (SERVER_CRASHES + 1));
        while (progress.stored < at) {
          if (!publishing) return;
          await sleep(50);
        }
        await server.kill();
        faults.serverCrashes++;
        say(`nats-server SIGKILLed (crash ${c}) at ~${formatNumber(at)} orders received`);
        await sleep(OUTAGE_MS);
        await server.start();
        say("nats-server restarted on the same store");
      }
    })();

    let lastReport = 0;
    while (publishing) {
      checkDeadline("publishing", lastCountError);
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        const c = await countsOrNothing(jsm);
        if (c)
          say(
            `received ${formatNumber(c["ORDERS.received"] ?? 0)}, completed ${formatNumber(c["ORDERS.completed"] ?? 0)}`,
          );
      }
      await sleep(250);
    }
    await publisher;
    await Promise.all([killer, crasher]);
    say("all orders published; waiting for the pipeline to finish");

    // Done when every order is completed and neither stage has anything pending or unacked.
    for (;;) {
      checkDeadline("waiting for the pipeline to finish", lastCountError);
      const counts = await countsOrNothing(jsm);
      if ((counts?.["ORDERS.completed"] ?? 0) >= N) {
        const idle = await Promise.all(
          STAGE_CONSUMERS.map((c) =>
            jsm.consumers.info("ORDERS", c).then((i) => i.num_pending + i.num_ack_pending === 0),
          ),
        );
        if (idle.every(Boolean)) break;
      }
      await sleep(250);
    }

    const live = [...current.values()];
    for (const w of live) w.child.kill("SIGTERM");
    const exitCodes = await Promise.all(live.map((w) => w.exited));
    const counts = await subjectCounts(jsm);
    const result = await audit(nc, counts["ORDERS.completed"] ?? 0);

    const lastSummary = (/** @type {Worker} */ w) =>
      w
        .logLines()
        .filter((l) => typeof l.redelivered === "number")
        .at(-1);
    const redelivered = workers.reduce((sum, w) => sum + Number(lastSummary(w)?.redelivered ?? 0), 0);
    // Every delivery, redeliveries included, takes a consumer sequence: beyond one per message, the
    // rest were redeliveries (a lower bound: a crashed server may forget its latest deliveries).
    const serverRedeliveries = await Promise.all(
      [
        ["NEW", counts["ORDERS.received"] ?? 0],
        ["DISPATCH", counts["ORDERS.processed"] ?? 0],
      ].map(
        async ([c, messages]) => (await jsm.consumers.info("ORDERS", c)).delivered.consumer_seq - messages,
      ),
    );
    await nc.close();
    const reconnects = workers.reduce(
      (sum, w) => sum + w.logLines().filter((l) => l.msg === "reconnected to NATS").length,
      0,
    );

    process.stdout.write("\n");
    process.stdout.write(
      `${table(
        ["subject", "messages"],
        Object.entries(counts)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([s, n]) => [s, formatNumber(n)]),
      )}\n\n`,
    );
    process.stdout.write(
      `${formatNumber(N)} orders in ${elapsed()}; faults: ${faults.workerKills} worker SIGKILLs, ` +
        `${faults.serverCrashes} nats-server SIGKILLs (${OUTAGE_MS} ms down each); ` +
        `redeliveries: NEW ${formatNumber(serverRedeliveries[0])}, DISPATCH ${formatNumber(serverRedeliveries[1])} ` +
        `(${formatNumber(redelivered)} in the last summaries workers logged), ${reconnects} worker reconnects, ` +
        `${formatNumber(progress.retries)} publish retries, ${failedStarts} worker starts refused while the ` +
        `server was down; last workers exited ${exitCodes.join(", ")}\n`,
    );
    const clean =
      result.lost === 0 &&
      result.duplicated === 0 &&
      result.unexpected === 0 &&
      counts["ORDERS.received"] === N &&
      counts["ORDERS.processed"] === N &&
      counts["ORDERS.completed"] === N;
    if (clean) {
      process.stdout.write("0 lost, 0 duplicated\n");
    } else {
      process.stdout.write(
        `${result.lost} lost, ${result.duplicated} duplicated` +
          (result.unexpected > 0 ? `, ${result.unexpected} unexpected payloads` : "") +
          "\n",
      );
      process.exitCode = 1;
    }
    if (exitCodes.some((c) => c !== 0)) process.exitCode = 1;
  } finally {
    await stopEverything();
  }
}

try {
  await main();
} catch (err) {
  process.stderr.write(`soak: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
