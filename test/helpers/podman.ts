import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { onTestFinished } from "vitest";
import { findExecutable } from "../../src/common/find-executable.js";

const OPTIONS = JSON.parse(
  readFileSync(fileURLToPath(new URL("../../scripts/podman-options.json", import.meta.url)), "utf8"),
) as { global: string[]; ulimits: string[] };

/** The rlimits every build step and container gets (scripts/podman-options.json says why). */
export const PODMAN_ULIMITS: readonly string[] = OPTIONS.ulimits;

export interface PodmanResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Whether podman is installed (the image tests need it, and runc, and mmdebstrap for the base). */
export function havePodman(): boolean {
  return findExecutable("podman").path !== undefined;
}

/** Runs `podman <args>` with the machine's global options; resolves with its exit code, never throws. */
export function podman(args: string[], { timeoutMs = 240_000 } = {}): Promise<PodmanResult> {
  return new Promise((resolve) => {
    execFile(
      "podman",
      [...OPTIONS.global, ...args],
      { encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `podman <args>`, failing with its output when it exits non-zero; returns its stdout. */
export async function podmanOk(args: string[], opts?: { timeoutMs?: number }): Promise<string> {
  const res = await podman(args, opts);
  if (res.code !== 0) {
    throw new Error(`podman ${args.join(" ")} exited ${res.code}:\n${res.stderr.slice(-4000)}`);
  }
  return res.stdout;
}

/**
 * A detached container of `image` running `args` (the orderflow command), removed when the test ends.
 * Its name is returned; on a failed test its log is printed.
 */
export async function runDetached(image: string, name: string, runOptions: string[], args: string[]) {
  await podmanOk(["run", "-d", "--name", name, ...PODMAN_ULIMITS, ...runOptions, image, ...args]);
  onTestFinished(async (ctx) => {
    if (ctx.task.result?.state === "fail") {
      const logs = await podman(["logs", name]);
      process.stderr.write(`--- container ${name} ---\n${(logs.stdout + logs.stderr).slice(-4000)}\n`);
    }
    await podman(["rm", "-f", "-t", "0", name]);
  });
  return name;
}

/** What a container wrote so far (stdout and stderr). */
export async function containerLogs(name: string): Promise<string> {
  const res = await podman(["logs", name]);
  return res.stdout + res.stderr;
}
