import { onTestFinished } from "vitest";
import { LoggedChild, OutputWait } from "../../src/common/logged-child.js";
import { CLI, cliEnv } from "./cli.js";
import { waitForMetricsUrl } from "./metrics.js";

/** A `orderflow worker <stage>` process, as an operator would run it. */
export class WorkerProcess {
  private process: LoggedChild | undefined;

  constructor(
    /** A stage name: the seed's processor or dispatcher, or one a pipeline file (`--config`) declares. */
    readonly stage: string,
    readonly server: string,
    readonly extraArgs: string[] = [],
    /** More environment (OTEL_*), and node options before the CLI (`--import`). */
    readonly more: { env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {},
  ) {}

  start(): this {
    this.process = new LoggedChild(
      process.execPath,
      [...(this.more.nodeArgs ?? []), CLI, "worker", this.stage, "-s", this.server, ...this.extraArgs],
      { env: cliEnv({ ORDERFLOW_LOG_LEVEL: "info", ...this.more.env }), logLimit: 200_000 },
    );
    return this;
  }

  /** What it wrote (stdout and stderr), the last 200 KB. */
  get output(): string {
    return this.process?.output() ?? "";
  }

  get pid(): number | undefined {
    return this.process?.pid;
  }

  /** Resolves when the worker has logged its start line (its subscriptions are live). */
  async started(timeoutMs = 15_000): Promise<void> {
    const how =
      (await this.process?.waitForOutput(`"${this.stage} started"`, timeoutMs)) ?? OutputWait.Exited;
    if (how === OutputWait.TimedOut) throw new Error(`${this.stage} did not start:\n${this.output}`);
    if (how === OutputWait.Exited) throw new Error(`${this.stage} exited:\n${this.output}`);
  }

  /** The base URL of its metrics listener (started with --metrics-port), from its start line. */
  metricsUrl(): Promise<string> {
    return waitForMetricsUrl(() => this.output);
  }

  signal(sig: NodeJS.Signals): void {
    this.process?.child.kill(sig);
  }

  exited(): Promise<number | null> {
    return this.process?.exited ?? Promise.resolve(null);
  }

  async kill(): Promise<void> {
    await this.process?.kill("SIGKILL");
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
  stage: string,
  server: string,
  extraArgs: string[] = [],
  more: { env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {},
): Promise<WorkerProcess> {
  const w = new WorkerProcess(stage, server, extraArgs, more).start();
  onTestFinished(() => w.kill());
  await w.started();
  return w;
}
