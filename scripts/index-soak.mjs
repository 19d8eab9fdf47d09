#!/usr/bin/env node
// Index soak: a stream of N orders (received, processed, completed: 3 messages each, written fast
// with PubAcks awaited), then `orderflow indexer` on it: catch-up throughput per million orders, RSS
// of the indexer and the nats-server over time, index size on disk, lookup latency, and the time to
// the first correct answer after kill -9. Not in CI (10M orders take ~15 minutes and ~4 GB of disk).
// Run `npm run build` first (`npm run soak:index` does).
//
//   node scripts/index-soak.mjs [--orders 10000000] [--lookups 1000] [--out report.md]
//                               [--indexer-node-options "--max-old-space-size=64"]
//
// Starts its own nats-server with a fresh store; never touches another one.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { formatNumber, table } from "../dist/common/format.js";
import { NatsServer } from "../dist/common/nats-server.js";
import { lookupOrder } from "../dist/orders/order-lookup.js";
import { PubAckWindow } from "../dist/stages/pub-ack-window.js";
import { ensureTopology } from "../dist/topology/ensure.js";
import { DEFAULT_TOPOLOGY } from "../dist/topology/spec.js";

const CLI = fileURLToPath(new URL("../dist/main.js", import.meta.url));
const { values: flags } = parseArgs({
  options: {
    orders: { type: "string", default: "10000000" },
    lookups: { type: "string", default: "1000" },
    out: { type: "string" },
    // The indexer's heap cap as a deployment would set it (see docs/cli.md, order index): V8 otherwise
    // lets garbage from the catch-up read grow the heap to a few hundred MB before collecting it.
    "indexer-node-options": { type: "string", default: "--max-old-space-size=64" },
  },
});
const N = Number(flags.orders);
const LOOKUPS = Number(flags.lookups);
if (!Number.isInteger(N) || N < 1 || !Number.isInteger(LOOKUPS) || LOOKUPS < 1) {
  process.stderr.write("index-soak: --orders and --lookups must be positive whole numbers\n");
  process.exit(2);
}
const MILLION = Math.min(1_000_000, N);
const started = Date.now();
const say = (/** @type {string} */ line) =>
  process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`);
const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/** RSS in MB of a process, from /proc (`RssAnon`: its own memory, without mapped files). */
function rssMb(/** @type {number | undefined} */ pid, field = "VmRSS") {
  if (!pid) return 0;
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch (err) {
    if (/** @type {NodeJS.ErrnoException} */ (err).code === "ENOENT") return 0; // it has just exited
    throw err;
  }
}

function duMb(/** @type {string} */ dir) {
  return new Promise((resolve) => {
    const du = spawn("du", ["-sk", dir]);
    let out = "";
    du.stdout.on("data", (c) => {
      out += c;
    });
    du.on("exit", () => resolve(Number(out.split("\t")[0]) / 1024));
  });
}

const percentile = (/** @type {number[]} */ sorted, /** @type {number} */ p) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;

const server = await NatsServer.start({});
const nc = await connect({ servers: server.url, name: "index-soak" });
const t = { ...DEFAULT_TOPOLOGY };
await ensureTopology(await jetstreamManager(nc), t);
const indexDir = mkdtempSync(join(tmpdir(), "orderflow-index-soak-"));
/** @type {{ at: number, what: string, indexer: number, anon?: number, server: number }[]} */
const rss = [];

try {
  // 1. The stream, written as fast as the server stores it: a window of PubAcks in flight, each one
  // awaited (since 2.11 a server drops what is beyond 10,000 messages waiting to be stored), a 429
  // published again shortly.
  say(`writing ${formatNumber(N)} orders (${formatNumber(N * 3)} messages) with PubAcks awaited`);
  const enc = new TextEncoder();
  const writeStart = Date.now();
  /** @type {number[]} */
  const writePerMillion = [];
  let windowStart = Date.now();
  /** @type {Error | undefined} */
  let failure;
  let retrying = 0;
  /** @type {(() => void) | undefined} */
  let wake;
  const woken = () => new Promise((r) => (wake = r));
  /** @param {[string, string]} m */
  const send = (m) => window.publish(m[0], enc.encode(m[1]), undefined, m);
  const window = new PubAckWindow(
    nc,
    {
      pubAcked: () => wake?.(),
      pubFailed: (m, err) => {
        if (err.retryLater) {
          // Counted until sent again, so the drain below waits for it too.
          retrying++;
          setTimeout(() => {
            retrying--;
            send(m);
          }, 50);
        } else failure ??= err;
        wake?.();
      },
      inboxFailed: (err) => {
        failure ??= err;
        wake?.();
      },
    },
    { timeoutMs: 30_000 },
  );
  window.start();
  for (let i = 1; i <= N; i++) {
    const n = String(i);
    while (window.size >= 3_000) {
      if (failure) throw failure;
      await woken();
    }
    send(["ORDERS.received", n]);
    send(["ORDERS.processed", `${n},processed`]);
    send(["ORDERS.completed", `${n},completed`]);
    if (i % MILLION === 0) {
      writePerMillion.push(MILLION / ((Date.now() - windowStart) / 1000));
      windowStart = Date.now();
      say(`${formatNumber(i)} orders written, server RSS ${rssMb(server.pid).toFixed(0)} MB`);
    }
  }
  while (window.size + retrying > 0) {
    if (failure) throw failure;
    await woken();
  }
  window.stop();
  const jsm = await jetstreamManager(nc);
  for (;;) {
    const si = await jsm.streams.info("ORDERS");
    if (si.state.messages >= N * 3) break;
    await sleep(500);
  }
  say(
    `stream holds ${formatNumber(N * 3)} messages after ${((Date.now() - writeStart) / 1000).toFixed(1)} s`,
  );

  // 2. The indexer reads it: progress sampled through its own lookups.
  const startIndexer = () =>
    spawn(process.execPath, [CLI, "indexer", "-s", server.url, "--index-dir", indexDir], {
      env: { ...process.env, ORDERFLOW_LOG_LEVEL: "warn", NODE_OPTIONS: flags["indexer-node-options"] },
      stdio: ["ignore", "pipe", "inherit"],
    });
  const ask = async () => {
    try {
      const m = await nc.request("orderflow.index.lookup", JSON.stringify({ orderNo: "-", through: 0 }), {
        timeout: 1_000,
      });
      return /** @type {{ indexedThrough: number }} */ (m.json()).indexedThrough;
    } catch (err) {
      // Not answering yet (starting): counted as nothing read. Anything else is the soak's failure.
      if (err instanceof Error && /timeout|no responders/i.test(`${err.message} ${err.cause ?? ""}`))
        return 0;
      throw err;
    }
  };
  const catchUpStart = Date.now();
  let indexer = startIndexer();
  /** @type {number[]} */
  const indexPerMillion = [];
  let lastMillion = 0;
  let lastAt = Date.now();
  for (;;) {
    const through = await ask();
    const orders = Math.floor(through / 3);
    rss.push({
      at: Date.now() - started,
      what: "catch-up",
      indexer: rssMb(indexer.pid),
      anon: rssMb(indexer.pid, "RssAnon"),
      server: rssMb(server.pid),
    });
    while (orders >= lastMillion + MILLION) {
      lastMillion += MILLION;
      const rate = MILLION / ((Date.now() - lastAt) / 1000);
      indexPerMillion.push(rate);
      lastAt = Date.now();
      say(
        `index through ${formatNumber(lastMillion)} orders, ${formatNumber(Math.round(rate))} orders/s, indexer RSS ${rssMb(indexer.pid).toFixed(0)} MB`,
      );
    }
    if (through >= N * 3) break;
    await sleep(1_000);
  }
  const catchUpS = (Date.now() - catchUpStart) / 1000;
  const indexerRssAfter = rssMb(indexer.pid);

  // 3. Lookups of random orders, end to end as `orderflow order` does them (index, then fetches).
  /** @type {number[]} */
  const lookupMs = [];
  for (let i = 0; i < LOOKUPS; i++) {
    const orderNo = String(1 + Math.floor(Math.random() * N));
    const t0 = performance.now();
    const r = await lookupOrder(nc, t, orderNo, { scanLast: 0 });
    lookupMs.push(performance.now() - t0);
    if (r.entries.length !== 3) throw new Error(`order ${orderNo}: ${r.entries.length} entries, not 3`);
  }
  lookupMs.sort((a, b) => a - b);
  rss.push({
    at: Date.now() - started,
    what: "after lookups",
    indexer: rssMb(indexer.pid),
    anon: rssMb(indexer.pid, "RssAnon"),
    server: rssMb(server.pid),
  });

  // 4. kill -9, then the time from the new process's start to its first correct answer.
  indexer.kill("SIGKILL");
  await new Promise((r) => indexer.once("exit", r));
  const restartAt = Date.now();
  indexer = startIndexer();
  let firstAnswerMs = 0;
  for (;;) {
    const r = await lookupOrder(nc, t, "1", { scanLast: 0, indexTimeoutMs: 200 }).catch(() => undefined);
    if (r && r.entries.length === 3 && r.coverage.index) {
      firstAnswerMs = Date.now() - restartAt;
      break;
    }
    await sleep(50);
  }
  rss.push({
    at: Date.now() - started,
    what: "after restart",
    indexer: rssMb(indexer.pid),
    anon: rssMb(indexer.pid, "RssAnon"),
    server: rssMb(server.pid),
  });
  indexer.kill("SIGINT");
  await new Promise((r) => indexer.once("exit", r));
  const diskMb = await duMb(indexDir);

  const mean = (/** @type {number[]} */ xs) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const peakIndexer = Math.max(...rss.map((r) => r.indexer));
  const peakAnon = Math.max(...rss.map((r) => r.anon ?? 0));
  const peakServer = Math.max(...rss.map((r) => r.server));
  const rows = [
    ["orders / messages", `${formatNumber(N)} / ${formatNumber(N * 3)}`],
    ["indexer NODE_OPTIONS", flags["indexer-node-options"] || "(none)"],
    [
      "stream written (PubAcks awaited), orders/s per million",
      writePerMillion.map((r) => formatNumber(Math.round(r))).join(", "),
    ],
    [
      "index catch-up, orders/s per million",
      indexPerMillion.map((r) => formatNumber(Math.round(r))).join(", "),
    ],
    [
      "index catch-up, whole stream",
      `${catchUpS.toFixed(1)} s (${formatNumber(Math.round(N / catchUpS))} orders/s)`,
    ],
    ["indexer RSS: peak / after catch-up", `${peakIndexer.toFixed(0)} MB / ${indexerRssAfter.toFixed(0)} MB`],
    ["indexer RSS without mapped files (RssAnon), peak", `${peakAnon.toFixed(0)} MB`],
    ["nats-server RSS peak", `${peakServer.toFixed(0)} MB`],
    ["index on disk", `${diskMb.toFixed(0)} MB (${((diskMb * 1024 * 1024) / N).toFixed(0)} bytes per order)`],
    [
      `lookup end to end (${formatNumber(LOOKUPS)} random orders): p50 / p95 / p99`,
      `${percentile(lookupMs, 50).toFixed(1)} / ${percentile(lookupMs, 95).toFixed(1)} / ${percentile(lookupMs, 99).toFixed(1)} ms (mean ${mean(lookupMs).toFixed(1)})`,
    ],
    [
      "kill -9, restart: first correct answer of an old order",
      `${firstAnswerMs} ms after the process was started`,
    ],
  ];
  const report = table(["figure", "value"], rows);
  process.stdout.write(`\n${report}\n`);
  const rssLines = rss
    .filter((_, i) => i % Math.max(1, Math.floor(rss.length / 20)) === 0 || i >= rss.length - 2)
    .map(
      (r) =>
        `| ${(r.at / 1000).toFixed(0)} s | ${r.what} | ${r.indexer.toFixed(0)} | ${r.server.toFixed(0)} |`,
    );
  const md = [
    `| figure | value |`,
    `|---|---|`,
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
    "",
    "RSS over time (MB):",
    "",
    "| at | phase | indexer RSS | of it RssAnon | nats-server |",
    "|---|---|---|---|---|",
    ...rssLines,
  ].join("\n");
  if (flags.out) writeFileSync(flags.out, `${md}\n`);
} finally {
  await nc.close();
  await server.stop();
  server.cleanup?.();
  rmSync(indexDir, { recursive: true, force: true });
}
