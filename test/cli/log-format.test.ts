import { spawn, spawnSync } from "node:child_process";
import { describe, expect, it, onTestFinished } from "vitest";
import { stripAnsi } from "../../src/common/format.js";
import { CLI, cliEnv } from "../helpers/cli.js";
import { connectTo, publishOrders, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { hasScript, spawnOnTerminal } from "../helpers/terminal.js";
import { waitFor } from "../helpers/wait.js";

const CTRL_C = "\u0003";
const ESC = "\u001b";
/** `[12:04:05.123] INFO: processor: …`, as pino-pretty prints our lines. */
const PRETTY_LINE = /^\[\d\d:\d\d:\d\d\.\d{3}\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL): \S/;

interface Run {
  output(): string;
  exited: Promise<number | null>;
  stop(): void;
}

/**
 * `orderflow worker processor` at debug level (a line per order, so more than start and stop), on a
 * real pseudo-terminal (util-linux `script`) or with stdout and stderr piped.
 */
function worker(
  url: string,
  how: "pty" | "pipe",
  extraArgs: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Run {
  const args = [CLI, "worker", "processor", "-s", url, "--log-level", "debug", ...extraArgs];
  const fullEnv = cliEnv({ TERM: "xterm", ...env });
  const child =
    how === "pty"
      ? spawnOnTerminal([process.execPath, ...args], fullEnv)
      : spawn(process.execPath, args, { env: fullEnv, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  onTestFinished(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  return {
    output: () => out,
    exited,
    // Ctrl-C as typed on the terminal (the pty turns it into SIGINT), or SIGINT as a supervisor sends it.
    stop: () => (how === "pty" ? child.stdin.write(CTRL_C) : child.kill("SIGINT")),
  };
}

/** Starts the worker, has it process one order, stops it; returns its output's non-empty lines. */
async function runOnce(how: "pty" | "pipe", extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const server = await startServer();
  const nc = await connectTo(server);
  const jsm = await withTopology(nc);
  const w = worker(server.url, how, extraArgs, env);
  await waitFor(`the start line (output: ${w.output()})`, () => w.output().includes("processor started"));
  await publishOrders(nc, 1);
  await waitFor("the order processed", async () => (await subjectCounts(jsm))["ORDERS.processed"] === 1);
  await waitFor("the per-order debug line", () => /publishing/.test(w.output()));
  w.stop();
  expect(await w.exited).toBe(0);
  // The terminal echoes the typed Ctrl-C as "^C": that is the pty's, not the worker's, output.
  const text = how === "pty" ? w.output().replaceAll("^C", "") : w.output();
  expect(text).toContain("processor stopped");
  return { text, lines: text.split(/\r?\n/).filter((l) => l.trim() !== "") };
}

describe("log lines: pretty for people, JSON for machines", () => {
  it.skipIf(!hasScript)("a worker on a terminal prints short coloured lines and no JSON", async () => {
    const { text, lines } = await runOnce("pty");
    // The level is coloured: green INFO, blue DEBUG.
    expect(text).toMatch(new RegExp(`${ESC}\\[3\\dm(INFO|DEBUG)`));
    const plain = lines.map(stripAnsi);
    for (const line of plain) {
      expect(line).not.toMatch(/^\s*\{/);
      expect(line).toMatch(PRETTY_LINE);
    }
    expect(plain.find((l) => l.includes("processor started"))).toMatch(
      /INFO: processor: processor started .*batch=250 maxInFlight=1000/,
    );
  });

  it("a piped worker prints only JSON lines", async () => {
    const { lines } = await runOnce("pipe");
    for (const line of lines) {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      expect(parsed.msg).toEqual(expect.any(String));
      expect(parsed.level).toEqual(expect.any(Number));
    }
    expect(lines.some((l) => l.includes('"msg":"processor started"'))).toBe(true);
  });

  it.skipIf(!hasScript)("--log-format json on a terminal forces JSON", async () => {
    const { lines } = await runOnce("pty", ["--log-format", "json"]);
    for (const line of lines) expect(() => JSON.parse(stripAnsi(line))).not.toThrow();
  });

  it("ORDERFLOW_LOG_FORMAT=pretty when piped forces pretty lines, without colour codes", async () => {
    const { text, lines } = await runOnce("pipe", [], { ORDERFLOW_LOG_FORMAT: "pretty" });
    expect(text).not.toContain(`${ESC}[`);
    for (const line of lines) expect(line).toMatch(PRETTY_LINE);
  });

  it("a bad --log-format is one line naming the choices", async () => {
    const child = spawnSync(process.execPath, [CLI, "status", "--log-format", "xml"], { env: cliEnv() });
    expect(child.status).toBe(1);
    expect(child.stderr.toString()).toMatch(/--log-format.*xml.*auto, pretty, json/);
  });
});
