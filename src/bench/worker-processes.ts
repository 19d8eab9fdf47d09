import { type ChildProcess, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { ErrorCode, OrderflowError } from "../common/errors.js";
import { NODE_FLAGS } from "../common/runtime-flags.js";
import type { ProcessUsage } from "./stats.js";

const MAIN = fileURLToPath(new URL("../main.js", import.meta.url));
const CLK_TCK = 100;

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export async function readCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** One `orderflow worker` child process, sampled for CPU time and RSS from /proc. */
export class WorkerProcess {
  readonly child: ChildProcess;
  private log = "";
  readonly rssMb: number[] = [];
  peakRssMb = 0;
  cpuSeconds = 0;
  private readonly exited: Promise<number | null>;

  constructor(
    readonly role: "processor" | "dispatcher",
    server: string,
    args: string[],
    nodeArgs: string[] = [],
  ) {
    this.child = spawn(
      process.execPath,
      [...NODE_FLAGS, ...nodeArgs, MAIN, "worker", role, "-s", server, "--log-level", "info", ...args],
      {
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    this.child.stderr?.on("data", (c: Buffer) => {
      this.log = (this.log + c.toString()).slice(-20_000);
    });
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
  }

  async started(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.log.includes(`"${this.role} started"`)) {
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new OrderflowError(
          ErrorCode.Internal,
          `${this.role} worker did not start: ${this.log.trim().split("\n").at(-1)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Reads CPU seconds (user + system) and current/peak RSS; Linux only, silently zero elsewhere. */
  async sample(): Promise<void> {
    const pid = this.child.pid;
    if (pid === undefined || process.platform !== "linux") return;
    try {
      this.cpuSeconds = await readCpuSeconds(pid);
      const status = await readFile(`/proc/${pid}/status`, "utf8");
      const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
      const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
      this.rssMb.push(rss);
      this.peakRssMb = Math.max(this.peakRssMb, hwm);
    } catch (err) {
      // The process may have exited between samples; its last figures stand.
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }

  usage(): ProcessUsage {
    return {
      role: this.role,
      pid: this.child.pid ?? 0,
      cpuSeconds: this.cpuSeconds,
      peakRssMb: this.peakRssMb,
      rssMb: this.rssMb,
    };
  }

  /** SIGTERM and wait: the worker drains and exits 0. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill("SIGTERM");
    return this.exited;
  }
}
