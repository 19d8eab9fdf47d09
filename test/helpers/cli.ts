import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const CLI = fileURLToPath(new URL("../../dist/main.js", import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `orderflow` binary as a user would, never inheriting the caller's NATS_URL. */
export function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
) {
  return new Promise<CliResult>((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ORDERFLOW_LOG_LEVEL: "warn", ...opts.env };
    if (!opts.env?.NATS_URL) delete env.NATS_URL;
    const child = spawn(process.execPath, [CLI, ...args], {
      env,
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
