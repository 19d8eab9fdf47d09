import type { JetStreamManager } from "@nats-io/jetstream";
import { AlreadyStartedError } from "../common/errors.js";
import { type Logger, silentLogger } from "../common/logger.js";
import { sleepUnlessAborted } from "../common/sleep.js";
import type { TopologyOptions } from "../topology/spec.js";
import { assessStatus, type StatusReport } from "./assess.js";
import { collectStatus } from "./collect.js";
import { ReplayedDeadLetters } from "./replayed-dead-letters.js";
import { SampleWindow } from "./sample-window.js";
import { type StatusOptions, statusOptions } from "./status-options.js";

/**
 * One report: a sample now and one `windowMs` later (three API requests each). Aborting the signal
 * during the wait reports on what was seen so far (a single sample: no rates, no trend).
 */
export async function measureStatus(
  jsm: JetStreamManager,
  t: TopologyOptions,
  opts: Partial<StatusOptions> = {},
  signal?: AbortSignal,
): Promise<StatusReport> {
  const o = statusOptions(opts);
  const replays = new ReplayedDeadLetters(jsm, t);
  const first = await collectStatus(jsm, t, replays);
  await sleepUnlessAborted(o.windowMs, signal);
  if (signal?.aborted) return assessStatus([first], o);
  return assessStatus([first, await collectStatus(jsm, t, replays)], o);
}

export type StatusListener = (report: StatusReport) => void;
export type StatusErrorListener = (err: unknown) => void;

/**
 * Samples every `intervalMs` and reports over a sliding window of `windowMs`: `orderflow status
 * --watch` prints each report; the dashboard can hold one and read latest().
 */
export class StatusSampler {
  private readonly o: StatusOptions;
  private readonly window: SampleWindow;
  private readonly listeners = new Set<StatusListener>();
  private readonly errorListeners = new Set<StatusErrorListener>();
  private readonly logger: Logger;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private last: StatusReport | undefined;
  private readonly replays: ReplayedDeadLetters;

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly topology: TopologyOptions,
    opts: Partial<StatusOptions> = {},
    deps: { logger?: Logger } = {},
  ) {
    this.o = statusOptions(opts);
    this.window = new SampleWindow(this.o.windowMs);
    this.logger = deps.logger ?? silentLogger;
    this.replays = new ReplayedDeadLetters(jsm, topology);
  }

  on(listener: StatusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Called when a sample fails after start() (server restarting, a timeout): the sampler keeps
   * going and tries again at the next interval, because an operator's screen should outlive an outage.
   */
  onError(listener: StatusErrorListener): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  latest(): StatusReport | undefined {
    return this.last;
  }

  /**
   * Takes the first sample (so a missing stream fails here, with its one-line error), then keeps
   * sampling in the background until stop().
   */
  async start(): Promise<void> {
    if (this.loop) throw new AlreadyStartedError("StatusSampler");
    this.window.add(await collectStatus(this.jsm, this.topology, this.replays));
    this.loop = this.run();
  }

  /** Resolves when the background loop has ended; rejects with the error that ended it. */
  done(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop?.catch((err: unknown) => this.logger.warn({ err }, "status sampler ended with an error"));
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      await sleepUnlessAborted(this.o.intervalMs, signal);
      if (signal.aborted) return;
      try {
        this.window.add(await collectStatus(this.jsm, this.topology, this.replays));
      } catch (err) {
        this.logger.warn({ err }, "status sample failed; retrying");
        this.notify(this.errorListeners, err);
        continue;
      }
      const report = assessStatus(this.window.all(), this.o);
      this.last = report;
      this.notify(this.listeners, report);
    }
  }

  private notify<T>(listeners: ReadonlySet<(v: T) => void>, value: T): void {
    for (const l of listeners) {
      try {
        l(value);
      } catch (err) {
        this.logger.error({ err }, "status listener failed");
      }
    }
  }
}
