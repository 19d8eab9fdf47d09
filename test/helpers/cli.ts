import { spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const CLI = fileURLToPath(new URL("../../dist/main.js", import.meta.url));

/** A config home that does not exist: no nats CLI context of the developer's is ever selected. */
const NO_NATS_CONFIG = join(tmpdir(), "orderflow-tests-no-nats-config");
let indexDirs = 0;

/**
 * The environment every CLI process of the tests gets: the caller's, less NATS_URL and the nats CLI
 * context (NATS_CONTEXT, and the selection in ~/.config/nats), unless `env` sets them; each gets a
 * fresh order index directory.
 */
export function cliEnv(
  env: NodeJS.ProcessEnv = {},
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const full: NodeJS.ProcessEnv = {
    ...base,
    ORDERFLOW_LOG_LEVEL: "warn",
    XDG_CONFIG_HOME: NO_NATS_CONFIG,
    // Its own order index directory per process: LevelDB locks one to one process.
    ORDERFLOW_INDEX_DIR: join(tmpdir(), `orderflow-tests-index-${process.pid}-${indexDirs++}`),
    ...env,
  };
  if (!env.NATS_URL) delete full.NATS_URL;
  if (!env.NATS_CONTEXT) delete full.NATS_CONTEXT;
  return full;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `orderflow` binary as a user would, in {@link cliEnv}. */
export function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; cwd?: string } = {},
) {
  return new Promise<CliResult>((resolve, reject) => {
    const env = cliEnv(opts.env);
    const child = spawn(process.execPath, [CLI, ...args], {
      env,
      cwd: opts.cwd,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(
          `orderflow ${args.join(" ")} did not exit within ${opts.timeoutMs ?? 30_000} ms\n${stderr}`,
        ),
      );
    }, opts.timeoutMs ?? 30_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? "");
  });
}
