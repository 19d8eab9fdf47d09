import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import { type NatsConnection, headers as natsHeaders } from "@nats-io/nats-core";
import { z } from "zod";
import { durationMs } from "../common/duration.js";
import { errorMessage, OrderflowError, UsageError } from "../common/errors.js";
import { publishStored } from "../common/jetstream-publish.js";
import { type Logger, silentLogger } from "../common/logger.js";
import { checkMaxPayload, publishFailure } from "../common/publish-failure.js";
import { sleepUnlessAborted } from "../common/sleep.js";
import { parseTemplate, preciseNowMs, type Template } from "../common/templates.js";
import type { Tracing } from "../common/tracing.js";

/** Most orders one form submission may publish: enough to watch a backlog, not enough to fill a disk. */
export const PUBLISH_MAX_COUNT = 100_000;
/** Longest pause between two orders. */
export const PUBLISH_MAX_INTERVAL_MS = 60_000;
/** PubAcks awaited at once when publishing without a pause. */
const WINDOW = 64;
/** How long each order's PubAck is awaited. */
const PUBACK_TIMEOUT_MS = 5_000;
/** Finished jobs kept for the page. */
const KEEP_FINISHED = 5;

/** What the page's publish form sends. */
export const PublishRequest = z.object({
  count: z.coerce.number().int().min(1).max(PUBLISH_MAX_COUNT),
  template: z.string().min(1).max(1_000),
  /** A duration as operators type it (`0`, `250ms`, `1s`); empty means no pause. */
  interval: z.union([z.string().max(32), z.number().nonnegative()]).optional(),
});
export type PublishRequest = z.infer<typeof PublishRequest>;

export const JobState = {
  Running: "running",
  Done: "done",
  Cancelled: "cancelled",
  Failed: "failed",
} as const;
export type JobState = (typeof JobState)[keyof typeof JobState];

/** One submission of the form, as the page shows it. */
export interface PublishJob {
  id: number;
  template: string;
  count: number;
  intervalMs: number;
  published: number;
  duplicates: number;
  state: JobState;
  error?: string;
  /** Bodies of the first and the latest order the stream acknowledged. */
  first?: string;
  last?: string;
}

function intervalOf(value: string | number | undefined): number {
  if (value === undefined || value === "") return 0;
  const ms = typeof value === "number" ? value : durationMs(value);
  if (ms === undefined || !Number.isFinite(ms) || ms < 0 || ms > PUBLISH_MAX_INTERVAL_MS) {
    throw new UsageError(
      `interval "${value}" is not a duration from 0 to ${PUBLISH_MAX_INTERVAL_MS / 1000}s`,
      {
        hint: "use e.g. 0, 250ms or 1s",
      },
    );
  }
  return ms;
}

const encoder = new TextEncoder();

/**
 * Publishes test orders for the dashboard's form, in the background, one job per submission, with
 * the same templates as `orderflow pub` (`10000{{Count}}`). A job stops at the first failed publish
 * (server down, no stream) and says why.
 */
export class PublishJobs {
  private readonly jobs: PublishJob[] = [];
  private readonly running = new Map<number, { abort: AbortController; done: Promise<void> }>();
  private nextId = 1;
  private readonly js: JetStreamClient;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subject: string,
    private readonly logger: Logger = silentLogger,
    /** The stream meant to store the orders, for error hints. */
    private readonly stream = "ORDERS",
    /** When on, each order starts its own trace (a `send` span, its context in the headers). */
    private readonly tracing?: Tracing,
  ) {
    this.js = jetstream(nc);
  }

  /** Validates and starts a job; throws UsageError for a bad count, template or interval. */
  start(input: unknown): PublishJob {
    const parsed = PublishRequest.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new UsageError(`bad ${issue?.path.join(".") || "request"}: ${issue?.message ?? "invalid"}`, {
        hint: `count 1..${PUBLISH_MAX_COUNT}, a template like 10000{{Count}}, an interval like 250ms`,
      });
    }
    const template = parseTemplate(parsed.data.template, "template");
    const job: PublishJob = {
      id: this.nextId++,
      template: parsed.data.template,
      count: parsed.data.count,
      intervalMs: intervalOf(parsed.data.interval),
      published: 0,
      duplicates: 0,
      state: JobState.Running,
    };
    this.jobs.push(job);
    const abort = new AbortController();
    const done = this.run(job, template, abort.signal)
      .then(() => {
        job.state = abort.signal.aborted ? JobState.Cancelled : JobState.Done;
      })
      .catch((err: unknown) => {
        job.state = JobState.Failed;
        // The cause and its hint, without repeating "publish to <subject> failed".
        const reason =
          err instanceof OrderflowError
            ? err.oneLine().replace(/^publish to \S+ failed: /, "")
            : errorMessage(err);
        job.error = `publish to ${this.subject} failed after ${job.published} orders: ${reason}`;
        this.logger.warn({ job: job.id, err: job.error }, "publish job failed");
      })
      .finally(() => {
        this.running.delete(job.id);
        this.prune();
      });
    this.running.set(job.id, { abort, done });
    return { ...job };
  }

  /** Stops a running job after the publishes in flight; false when there is no such running job. */
  async cancel(id: number): Promise<boolean> {
    const r = this.running.get(id);
    if (!r) return false;
    r.abort.abort();
    await r.done;
    return true;
  }

  list(): PublishJob[] {
    return this.jobs.map((j) => ({ ...j }));
  }

  /** Cancels every running job and waits for them. */
  async stop(): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.cancel(id)));
  }

  private prune(): void {
    const finished = this.jobs.filter((j) => j.state !== JobState.Running);
    for (const old of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) {
      this.jobs.splice(this.jobs.indexOf(old), 1);
    }
  }

  private async run(job: PublishJob, template: Template, signal: AbortSignal): Promise<void> {
    const one = async (n: number): Promise<void> => {
      const body = template.render({ count: n, nowMs: preciseNowMs() });
      const data = encoder.encode(body);
      const attempt = {
        subject: this.subject,
        bytes: data.length,
        stream: this.stream,
        timeoutMs: PUBACK_TIMEOUT_MS,
      };
      checkMaxPayload(this.nc, attempt);
      const h = this.tracing ? natsHeaders() : undefined;
      const span =
        this.tracing && h
          ? this.tracing.send(h, { subject: this.subject, stream: this.stream, orderNo: body })
          : undefined;
      const ack = await publishStored(
        this.js,
        this.subject,
        data,
        { timeout: PUBACK_TIMEOUT_MS, headers: h },
        { signal },
      ).catch((err: unknown) => {
        span?.end(err);
        throw publishFailure(this.nc, attempt, err);
      });
      span?.end();
      if (ack.duplicate) job.duplicates++;
      else job.published++;
      job.first ??= body;
      job.last = body;
    };
    if (job.intervalMs > 0) {
      for (let n = 1; n <= job.count && !signal.aborted; n++) {
        await one(n);
        if (n < job.count) await sleepUnlessAborted(job.intervalMs, signal);
      }
      return;
    }
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    for (let n = 1; n <= job.count && !signal.aborted && failure === undefined; n++) {
      const p: Promise<void> = one(n)
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= WINDOW) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
  }
}
