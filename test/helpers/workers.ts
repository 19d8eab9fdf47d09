import { type ChildProcess, spawn } from "node:child_process";
import { onTestFinished } from "vitest";
import { CLI, cliEnv } from "./cli.js";

/** A `orderflow worker <stage>` process, as an operator would run it. */
export class WorkerProcess {
  private child: ChildProcess | undefined;
  private exitPromise: Promise<number | null> = Promise.resolve(null);
  output = "";

  constructor(
    readonly stage: "processor" | "dispatcher",
    readonly server: string,
    readonly extraArgs: string[] = [],
  ) {}

  start(): this {
    const child = spawn(process.execPath, [CLI, "worker", this.stage, "-s", this.server, ...this.extraArgs], {
      env: cliEnv({ ORDERFLOW_LOG_LEVEL: "info" }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    const append = (c: Buffer): void => {
      this.output = (this.output + c.toString()).slice(-200_000);
    };
    child.stdout?.on("data", append);
    child.stderr?.on("data", append);
    this.exitPromise = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    return this;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Resolves when the worker has logged its start line (its subscriptions are live). */
  async started(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.output.includes(`"${this.stage} started"`)) {
      if (Date.now() > deadline) throw new Error(`${this.stage} did not start:\n${this.output}`);
      if (this.child?.exitCode !== null) throw new Error(`${this.stage} exited:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  signal(sig: NodeJS.Signals): void {
    this.child?.kill(sig);
  }

  exited(): Promise<number | null> {
    return this.exitPromise;
  }

  async kill(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGKILL");
      await this.exitPromise;
    }
  }

  /** The JSON log lines the worker wrote, parsed. */
  logLines(): Array<Record<string, unknown>> {
    return this.output
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

/** Starts a worker process that is killed when the test ends, whatever happens. */
export async function startWorker(
  stage: "processor" | "dispatcher",
  server: string,
  extraArgs: string[] = [],
): Promise<WorkerProcess> {
  const w = new WorkerProcess(stage, server, extraArgs).start();
  onTestFinished(() => w.kill());
  await w.started();
  return w;
}
