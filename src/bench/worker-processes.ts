import type { ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { ErrorCode, OrderflowError } from "../common/errors.js";
import { LoggedChild, OutputWait } from "../common/logged-child.js";
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

/** What a bench child process runs: one stage's `orderflow worker <stage>`, or `orderflow indexer`. */
export type BenchProcessKind = { stage: string } | "indexer";

/** One `orderflow worker` (or `orderflow indexer`) child process, sampled for CPU time and RSS from /proc. */
export class WorkerProcess {
  private readonly process: LoggedChild;
  /** In reports: the stage's name (`processor`, `validator`, …) or `indexer`. */
  readonly role: string;
  readonly rssMb: number[] = [];
  peakRssMb = 0;
  cpuSeconds = 0;

  constructor(
    private readonly kind: BenchProcessKind,
    server: string,
    args: string[],
    nodeArgs: string[] = [],
    /** The child's whole environment; default this process's. */
    env?: NodeJS.ProcessEnv,
  ) {
    // A kind, not a name: a pipeline file may well call a stage "indexer".
    this.role = kind === "indexer" ? "indexer" : kind.stage;
    const command = kind === "indexer" ? ["indexer"] : ["worker", kind.stage];
    this.process = new LoggedChild(
      process.execPath,
      [...NODE_FLAGS, ...nodeArgs, MAIN, ...command, "-s", server, "--log-level", "info", ...args],
      { keepStdout: false, logLimit: 20_000, ...(env ? { env } : {}) },
    );
  }

  get child(): ChildProcess {
    return this.process.child;
  }

  async started(timeoutMs = 20_000): Promise<void> {
    // An indexer is ready when it has read the (fresh) stream: its lookups answer from then on.
    const line = this.kind === "indexer" ? '"order index caught up"' : `"${this.role} started"`;
    const how = await this.process.waitForOutput(line, timeoutMs);
    if (how !== OutputWait.Seen) {
      throw new OrderflowError(ErrorCode.Internal, `${this.role} did not start: ${this.process.lastLines()}`);
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
    return this.process.kill("SIGTERM");
  }
}
