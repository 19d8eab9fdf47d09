import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";

export interface LoggedChildOptions {
  env?: NodeJS.ProcessEnv;
  /** Own process group (see NatsServer's `detached`); default false. */
  detached?: boolean;
  /** Keep stdout in the log too (default); false discards it and keeps stderr only. */
  keepStdout?: boolean;
  /** The most of the log kept, in characters: the last ones win. Default 64 KiB. */
  logLimit?: number;
}

/** How a wait for a line in the log ended. */
export const OutputWait = { Seen: "seen", Exited: "exited", TimedOut: "timed-out" } as const;
export type OutputWait = (typeof OutputWait)[keyof typeof OutputWait];

/**
 * A child process whose output is kept, bounded, for error messages and for waiting on a start
 * line. A spawn failure (missing binary) ends up in the log and in {@link exited} (null), not as an
 * unhandled 'error' event.
 */
export class LoggedChild {
  readonly child: ChildProcess;
  /** The exit code; null when killed by a signal or never spawned. */
  readonly exited: Promise<number | null>;
  private log = "";
  private ended = false;
  private readonly limit: number;

  constructor(command: string, args: readonly string[], opts: LoggedChildOptions = {}) {
    this.limit = opts.logLimit ?? 64 * 1024;
    const spawnOptions: SpawnOptions = {
      stdio: ["ignore", opts.keepStdout === false ? "ignore" : "pipe", "pipe"],
      detached: opts.detached ?? false,
      ...(opts.env ? { env: opts.env } : {}),
    };
    this.child = spawn(command, args, spawnOptions);
    this.child.stdout?.on("data", (c: Buffer) => this.append(c.toString()));
    this.child.stderr?.on("data", (c: Buffer) => this.append(c.toString()));
    this.exited = new Promise((resolve) => {
      // "close", not "exit": by then its output has been read to the end, so a line written just
      // before exiting is in the log when a wait ends with Exited.
      this.child.once("close", (code) => {
        this.ended = true;
        resolve(code);
      });
      this.child.once("error", (err) => {
        this.append(`\nspawn failed: ${err.message}\n`);
        this.ended = true;
        resolve(null);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Spawned and not yet exited. */
  get running(): boolean {
    return (
      !this.ended &&
      this.child.pid !== undefined &&
      this.child.exitCode === null &&
      this.child.signalCode === null
    );
  }

  /** Whether it has exited (or failed to spawn). */
  get hasExited(): boolean {
    return this.ended;
  }

  /** The last {@link LoggedChildOptions.logLimit} characters it wrote. */
  output(): string {
    return this.log;
  }

  /** Its last `n` non-empty lines, joined by ` | `; for one-line errors. */
  lastLines(n = 1): string {
    return this.log.trim().split("\n").filter(Boolean).slice(-n).join(" | ");
  }

  /** Waits for `text` to appear in the log, on the output events themselves (no polling). */
  waitForOutput(text: string, timeoutMs: number): Promise<OutputWait> {
    if (this.log.includes(text)) return Promise.resolve(OutputWait.Seen);
    if (this.ended) return Promise.resolve(OutputWait.Exited);
    return new Promise((resolve) => {
      const finish = (how: OutputWait): void => {
        clearTimeout(timer);
        this.child.stdout?.off("data", check);
        this.child.stderr?.off("data", check);
        resolve(how);
      };
      // The append listeners were added first, so the log already holds this chunk.
      const check = (): void => {
        if (this.log.includes(text)) finish(OutputWait.Seen);
      };
      const timer = setTimeout(() => finish(OutputWait.TimedOut), timeoutMs);
      this.child.stdout?.on("data", check);
      this.child.stderr?.on("data", check);
      void this.exited.then(() => finish(this.log.includes(text) ? OutputWait.Seen : OutputWait.Exited));
    });
  }

  /** Sends `sig` unless it has exited; resolves with the exit code. */
  async kill(sig: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.running) this.child.kill(sig);
    return this.exited;
  }

  private append(text: string): void {
    this.log = (this.log + text).slice(-this.limit);
  }
}
