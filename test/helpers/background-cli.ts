import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { onTestFinished } from "vitest";
import { CLI, cliEnv } from "./cli.js";
import { waitFor } from "./wait.js";

/** A long-running `orderflow` process (monitor, indexer, status --watch), stopped when the test ends. */
export interface BackgroundCli {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Lines of stdout so far. */
  lines(): string[];
  /** Sends SIGINT (the operator's Ctrl-C) and resolves with the exit code. */
  interrupt(): Promise<number | null>;
  exited: Promise<number | null>;
}

/**
 * Starts the built CLI in the background, in {@link cliEnv} (no NATS_URL or nats context inherited);
 * with `isolated`, no other ORDERFLOW_* variable is either (only those given in `env`, the log level
 * and its own index directory).
 */
export function startCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  { isolated = false } = {},
): BackgroundCli {
  const fullEnv = cliEnv(env);
  if (isolated) {
    for (const k of Object.keys(fullEnv)) {
      const kept = k === "ORDERFLOW_LOG_LEVEL" || k === "ORDERFLOW_INDEX_DIR";
      if (k.startsWith("ORDERFLOW_") && !kept && !(k in env)) delete fullEnv[k];
    }
  }
  const child = spawn(process.execPath, [CLI, ...args], { env: fullEnv, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    lines: () => out.split("\n").filter((l) => l.length > 0),
    interrupt: async () => {
      child.kill("SIGINT");
      return exited;
    },
    exited,
  };
}

/** Waits until the process has printed at least `n` stdout lines, failing with what it printed. */
export async function waitForLines(
  p: BackgroundCli,
  n: number,
  what: string,
  timeoutMs = 20_000,
): Promise<string[]> {
  try {
    await waitFor(what, () => p.lines().length >= n, { timeoutMs });
  } catch (err) {
    throw new Error(
      `${(err as Error).message}\nstdout: ${p.stdout().slice(-1000)}\nstderr: ${p.stderr().slice(-1000)}`,
    );
  }
  return p.lines();
}
