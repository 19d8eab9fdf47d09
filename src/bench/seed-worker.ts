import type { ChildProcess } from "node:child_process";
import type { JetStreamManager } from "@nats-io/jetstream";
import { ErrorCode, OrderflowError } from "../common/errors.js";
import { LoggedChild, OutputWait } from "../common/logged-child.js";
import { sleep } from "../common/sleep.js";
import { buildSeedWorker } from "./seed-build.js";
import type { SeedGoOptions, SeedProgram } from "./seed-source.js";

/** Both programs log a line starting with this (开始处理…) before they subscribe. */
const SEED_START_TEXT = "开始处理";
const OUTPUT_LIMIT = 64 * 1024;

/**
 * One seed Go program running against `server` (passed as `NATS_URL`). The seed loops forever and
 * has no shutdown, so {@link stop} kills it. Its log (stderr; two lines per order) is kept, bounded.
 */
export class SeedWorker {
  private readonly process: LoggedChild;

  constructor(
    readonly program: SeedProgram,
    binary: string,
    server: string,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.process = new LoggedChild(binary, [], { env: { ...env, NATS_URL: server }, logLimit: OUTPUT_LIMIT });
  }

  get child(): ChildProcess {
    return this.process.child;
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get running(): boolean {
    return this.process.running;
  }

  /** The last 64 KiB of what the program wrote. */
  output(): string {
    return this.process.output();
  }

  exited(): Promise<number | null> {
    return this.process.exited;
  }

  /** Resolves on the seed's start line; it is logged before connecting succeeds, see {@link waitUntilPulling}. */
  async started(timeoutMs = 15_000): Promise<void> {
    const how = await this.process.waitForOutput(SEED_START_TEXT, timeoutMs);
    if (how !== OutputWait.Seen) throw this.notRunning("did not start");
  }

  /** SIGKILL and wait: the seed has no graceful stop (unacked orders are redelivered after ack wait). */
  async stop(): Promise<number | null> {
    return this.process.kill("SIGKILL");
  }

  notRunning(what: string): OrderflowError {
    return new OrderflowError(
      ErrorCode.Internal,
      `seed ${this.program} ${what}: ${this.process.lastLines(3) || "no output"}`,
    );
  }
}

/**
 * Resolves once `consumer` has an outstanding pull request (the seed's Fetch), failing if the worker
 * dies first: the seed ignores connect and subscribe errors and only crashes later.
 */
export async function waitUntilPulling(
  worker: SeedWorker,
  jsm: JetStreamManager,
  stream: string,
  consumer: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!worker.running) throw worker.notRunning("exited");
    const info = await jsm.consumers.info(stream, consumer);
    if (info.num_waiting > 0) return;
    if (Date.now() > deadline) throw worker.notRunning(`is not pulling from ${stream} > ${consumer}`);
    await sleep(20);
  }
}

/** Builds (or reuses) one seed program and starts it against `server`. */
export async function startSeedWorker(
  program: SeedProgram,
  server: string,
  overrides: Partial<SeedGoOptions> = {},
): Promise<SeedWorker> {
  const build = await buildSeedWorker(program, overrides);
  const worker = new SeedWorker(program, build.binary, server, overrides.env);
  try {
    await worker.started();
  } catch (err) {
    await worker.stop();
    throw err;
  }
  return worker;
}
