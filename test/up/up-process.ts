import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { startCli } from "../helpers/background-cli.js";
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

/** Runs the built CLI as `orderflow up <args>`, isolated from the test's NATS_URL and ORDERFLOW_* variables. */
export function startUp(args: string[], env: NodeJS.ProcessEnv = {}): UpProcess {
  const cli = startCli(["up", ...args], env, { isolated: true });
  return {
    child: cli.child,
    stdout: cli.stdout,
    stderr: cli.stderr,
    exited: cli.exited,
    interrupt: cli.interrupt,
    dashboard: async (timeoutMs = 30_000) => {
      try {
        return await waitFor(
          "the dashboard URL on stdout",
          () => {
            if (cli.child.exitCode !== null)
              throw new Error(`orderflow up exited with ${cli.child.exitCode}`);
            return /^dashboard: (\S+)/m.exec(cli.stdout())?.[1];
          },
          { timeoutMs },
        );
      } catch (e) {
        throw new Error(
          `${(e as Error).message}\nstdout: ${cli.stdout().slice(-2000)}\nstderr: ${cli.stderr().slice(-2000)}`,
        );
      }
    },
  };
}
