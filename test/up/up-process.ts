import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { onTestFinished } from "vitest";
import { CLI } from "../helpers/cli.js";
import { waitFor } from "../helpers/wait.js";

/** An `orderflow up` process, killed when the test ends if it still runs. */
export interface UpProcess {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
  /** The dashboard URL it printed, once it has printed it. */
  dashboard(timeoutMs?: number): Promise<string>;
  /** SIGINT, as Ctrl-C; resolves with the exit code. */
  interrupt(): Promise<number | null>;
}

/** Runs the built CLI as `orderflow up <args>`; NATS_URL is never inherited from the test's environment. */
export function startUp(args: string[], env: NodeJS.ProcessEnv = {}): UpProcess {
  const fullEnv: NodeJS.ProcessEnv = { ...process.env, ORDERFLOW_LOG_LEVEL: "warn", ...env };
  if (!env.NATS_URL) delete fullEnv.NATS_URL;
  for (const k of Object.keys(fullEnv)) {
    if (k.startsWith("ORDERFLOW_") && k !== "ORDERFLOW_LOG_LEVEL" && !(k in env)) delete fullEnv[k];
  }
  const child = spawn(process.execPath, [CLI, "up", ...args], {
    env: fullEnv,
    stdio: ["pipe", "pipe", "pipe"],
  });
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
    exited,
    dashboard: async (timeoutMs = 30_000) => {
      try {
        return await waitFor(
          "the dashboard URL on stdout",
          () => {
            if (child.exitCode !== null) throw new Error(`orderflow up exited with ${child.exitCode}`);
            return /^dashboard: (\S+)/m.exec(out)?.[1];
          },
          { timeoutMs },
        );
      } catch (e) {
        throw new Error(`${(e as Error).message}\nstdout: ${out.slice(-2000)}\nstderr: ${err.slice(-2000)}`);
      }
    },
    interrupt: async () => {
      child.kill("SIGINT");
      return exited;
    },
  };
}
