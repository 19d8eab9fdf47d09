import { type JetStreamManager, jetstream } from "@nats-io/jetstream";
import { type NatsConnection, nanos } from "@nats-io/nats-core";
import { expect } from "vitest";
import { msgIdOf } from "../../src/stages/payload.js";
import { readStored, type StoredMessage, subjectCounts } from "../helpers/fixtures.js";
import { sleep, waitFor } from "../helpers/wait.js";
import { startWorker, type WorkerProcess } from "../helpers/workers.js";

/**
 * Shared machinery of the fault tests: a publisher that rides out server loss, a probe of the stage
 * consumers, the worker fleet that is killed and restarted, and the exactly-once audit that reads
 * ORDERS.completed back.
 */

export const STAGE_CONSUMERS = ["NEW", "DISPATCH"] as const;
export type WorkerStage = "processor" | "dispatcher";

/**
 * Deliveries held by a killed worker come back after the consumer's ack wait: 30 s in production,
 * far beyond a test's bound. A short one makes every kill show up as redeliveries within the run.
 */
export async function shortenAckWait(jsm: JetStreamManager, ms = 1_500): Promise<void> {
  for (const c of STAGE_CONSUMERS) await jsm.consumers.update("ORDERS", c, { ack_wait: nanos(ms) });
}

export interface OrderToPublish {
  data: string | Uint8Array;
  /** Nats-Msg-Id; a retried publish with the same id is stored once. */
  msgId: string;
}

/** Orders `1..n` as the producer would publish them, each with the message id `<n>:received`. */
export function goodOrders(n: number, first = 1): OrderToPublish[] {
  return Array.from({ length: n }, (_, i) => {
    const no = String(first + i);
    return { data: no, msgId: msgIdOf(no, "received") };
  });
}

export interface PublishResult {
  /** Stream sequence of each order, in input order. */
  seqs: number[];
  /** Publishes that failed (timeout, no responders, server gone) and were sent again. */
  retries: number;
}

/**
 * Publishes to ORDERS.received with up to `window` PubAcks outstanding, sending a failed publish
 * again until it is stored, as a careful producer does through a server crash or a leader election.
 * The message id makes a retry of a publish that was stored after all a duplicate, not a second order.
 */
export async function publishAll(
  nc: NatsConnection,
  orders: readonly OrderToPublish[],
  { window = 200, timeoutMs = 2_000, giveUpMs = 50_000, perSecond = 0 } = {},
): Promise<PublishResult> {
  const js = jetstream(nc, { timeout: timeoutMs });
  const seqs = new Array<number>(orders.length).fill(0);
  let next = 0;
  let retries = 0;
  const start = Date.now();
  const deadline = start + giveUpMs;
  const lane = async (): Promise<void> => {
    for (let i = next++; i < orders.length; i = next++) {
      const o = orders[i] as OrderToPublish;
      // Pacing spreads the run over time so faults land while orders keep arriving.
      // Behind schedule (a busy machine): no pause, rather than a negative timeout Node warns about.
      if (perSecond > 0) await sleep(Math.max(0, start + (i * 1000) / perSecond - Date.now()));
      for (;;) {
        try {
          const ack = await js.publish("ORDERS.received", o.data, { msgID: o.msgId, timeout: timeoutMs });
          seqs[i] = ack.seq;
          break;
        } catch (err) {
          retries++;
          if (Date.now() > deadline)
            throw new Error(`order ${i} not stored after ${giveUpMs} ms`, { cause: err });
          await sleep(100);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  return { seqs, retries };
}

/**
 * Publishes orders 1, 2, 3, … to ORDERS.received at `perSecond` until stopped, riding out server
 * loss as {@link publishAll} does (a failed publish is sent again with the same message id until it
 * is stored). For runs whose length is set by events (faults done) rather than an order count.
 */
export class PacedOrderFeed {
  /** Publishes that failed and were sent again. */
  retries = 0;
  private next = 1;
  private stopping = false;
  private failure: unknown;
  private readonly lanes: Array<Promise<void>>;

  constructor(
    nc: NatsConnection,
    {
      perSecond,
      window = 50,
      timeoutMs = 2_000,
      giveUpMs = 30_000,
    }: {
      perSecond: number;
      window?: number;
      timeoutMs?: number;
      giveUpMs?: number;
    },
  ) {
    const js = jetstream(nc, { timeout: timeoutMs });
    const start = Date.now();
    const lane = async (): Promise<void> => {
      while (!this.stopping && this.failure === undefined) {
        const no = this.next++;
        const wait = start + ((no - 1) * 1000) / perSecond - Date.now();
        if (wait > 0) await sleep(wait);
        // A number taken is published even when stop() came meanwhile: the count stop() returns is
        // then exactly the orders stored.
        const deadline = Date.now() + giveUpMs;
        for (;;) {
          try {
            await js.publish("ORDERS.received", String(no), { msgID: msgIdOf(String(no), "received") });
            break;
          } catch (err) {
            this.retries++;
            if (Date.now() > deadline)
              throw new Error(`order ${no} not stored after ${giveUpMs} ms`, { cause: err });
            await sleep(100);
          }
        }
      }
    };
    this.lanes = Array.from({ length: window }, () =>
      lane().catch((err: unknown) => {
        this.failure ??= err;
      }),
    );
  }

  /** Order numbers handed out so far (the last ones may still be on their way). */
  get taken(): number {
    return this.next - 1;
  }

  /** Stops taking new numbers, waits until every number taken is stored, returns how many. */
  async stop(): Promise<number> {
    this.stopping = true;
    await Promise.all(this.lanes);
    if (this.failure !== undefined) throw this.failure;
    return this.next - 1;
  }
}

/**
 * Samples the stage consumers while a run goes on. `num_redelivered` counts only redeliveries that
 * are still unacked, so it is seen only while they are pending: sample often and keep the largest.
 * Samples fail while the server is down; they are counted, not hidden.
 */
export class ConsumerProbe {
  maxRedelivered = 0;
  samples = 0;
  failedSamples = 0;
  lastFailure: unknown;
  private running = true;
  private readonly loop: Promise<void>;

  constructor(jsm: JetStreamManager, intervalMs = 100) {
    this.loop = (async () => {
      while (this.running) {
        for (const c of STAGE_CONSUMERS) {
          try {
            const ci = await jsm.consumers.info("ORDERS", c);
            this.samples++;
            this.maxRedelivered = Math.max(this.maxRedelivered, ci.num_redelivered);
          } catch (err) {
            this.failedSamples++;
            this.lastFailure = err;
          }
        }
        await sleep(intervalMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/**
 * Deliveries of `consumer` beyond one per message. Every delivery, a redelivery too, takes the next
 * consumer sequence, so once `messages` have all been delivered, `delivered.consumer_seq - messages`
 * is how many redeliveries there were (a server crash can forget its latest deliveries: then it
 * is a lower bound).
 */
export async function redeliveriesOf(
  jsm: JetStreamManager,
  consumer: string,
  messages: number,
): Promise<number> {
  return (await jsm.consumers.info("ORDERS", consumer)).delivered.consumer_seq - messages;
}

/** Counts `reconnect` status events of a connection (the test client's own view of an outage). */
export function countReconnects(nc: NatsConnection): { count: number; error?: unknown } {
  return countStatus(nc, "reconnect");
}

/** Counts the connection's status events of one type as they happen. */
export function countStatus(nc: NatsConnection, type: string): { count: number; error?: unknown } {
  const seen: { count: number; error?: unknown } = { count: 0 };
  (async () => {
    for await (const s of nc.status()) if (s.type === type) seen.count++;
  })().catch((err: unknown) => {
    seen.error = err;
  });
  return seen;
}

/** One processor and one dispatcher process, killed and replaced on demand; every incarnation kept. */
export class Fleet {
  readonly all: WorkerProcess[] = [];
  readonly kills: Record<WorkerStage, number> = { processor: 0, dispatcher: 0 };
  private readonly current = new Map<WorkerStage, WorkerProcess>();

  constructor(
    private readonly server: string,
    private readonly args: string[] = [],
  ) {}

  async start(stage: WorkerStage): Promise<WorkerProcess> {
    const w = await startWorker(stage, this.server, this.args);
    this.all.push(w);
    this.current.set(stage, w);
    return w;
  }

  async startBoth(): Promise<void> {
    await Promise.all([this.start("processor"), this.start("dispatcher")]);
  }

  /** SIGKILL (no drain, nothing acked that was not acked already) and a fresh process. */
  async killAndRestart(stage: WorkerStage): Promise<void> {
    await this.current.get(stage)?.kill();
    this.kills[stage]++;
    await this.start(stage);
  }

  running(): WorkerProcess[] {
    return [...this.current.values()];
  }

  /** SIGTERM to the live workers; resolves with their exit codes (0 = drained). */
  async stopAll(): Promise<Array<number | null>> {
    const live = this.running();
    for (const w of live) w.signal("SIGTERM");
    return Promise.all(live.map((w) => w.exited()));
  }

  /** Redeliveries the workers saw, from the last summary line each process logged. */
  redeliveriesLogged(): number {
    let n = 0;
    for (const w of this.all) {
      const summaries = w.logLines().filter((l) => typeof l.redelivered === "number");
      n += Number(summaries.at(-1)?.redelivered ?? 0);
    }
    return n;
  }

  /** How many log lines with this message the live workers wrote, per worker. */
  logCounts(msg: string): number[] {
    return this.running().map((w) => w.logLines().filter((l) => l.msg === msg).length);
  }

  /** Worker output for a failure message. */
  outputs(): string {
    return this.all.map((w) => `--- ${w.stage} (pid ${w.pid}) ---\n${w.output.slice(-3000)}`).join("\n");
  }
}

/** Count of messages on a subject, 0 when there are none yet. */
export async function countOf(jsm: JetStreamManager, subject: string): Promise<number> {
  return (await subjectCounts(jsm))[subject] ?? 0;
}

/** Waits until `subject` holds at least `n` messages (server outages tolerated until the timeout). */
export async function waitForCount(
  jsm: JetStreamManager,
  subject: string,
  n: number,
  timeoutMs = 40_000,
): Promise<number> {
  return waitFor(
    `${n} messages on ${subject}`,
    async () => {
      const c = await countOf(jsm, subject);
      return c >= n ? c : 0;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/**
 * Waits until ORDERS.completed holds at least `n` and both stage consumers are idle: nothing
 * pending, nothing unacked. From then on no worker has anything left to publish.
 */
export async function waitForQuiet(jsm: JetStreamManager, n: number, timeoutMs = 45_000): Promise<void> {
  await waitFor(
    `${n} completed and NEW/DISPATCH idle`,
    async () => {
      if ((await countOf(jsm, "ORDERS.completed")) < n) return false;
      for (const c of STAGE_CONSUMERS) {
        const ci = await jsm.consumers.info("ORDERS", c);
        if (ci.num_pending > 0 || ci.num_ack_pending > 0) return false;
      }
      return true;
    },
    { timeoutMs, intervalMs: 200 },
  );
}

export { readStored, type StoredMessage };

export interface Audit {
  stored: number;
  distinct: number;
  /** Expected order numbers that are missing. */
  lost: string[];
  /** Order numbers stored more than once (each listed once). */
  duplicated: string[];
  /** Payloads that are no expected order at all. */
  unexpected: string[];
}

/** Compares the `<orderNo>,completed` payloads stored with the order numbers expected. */
export function auditCompleted(stored: readonly StoredMessage[], expected: readonly string[]): Audit {
  const decoder = new TextDecoder();
  const seen = new Map<string, number>();
  for (const m of stored) {
    const text = decoder.decode(m.data);
    seen.set(text, (seen.get(text) ?? 0) + 1);
  }
  const want = new Set(expected.map((no) => `${no},completed`));
  const orderNo = (p: string): string => p.slice(0, p.lastIndexOf(","));
  return {
    stored: stored.length,
    distinct: seen.size,
    lost: [...want].filter((p) => !seen.has(p)).map(orderNo),
    duplicated: [...seen].filter(([, k]) => k > 1).map(([p]) => orderNo(p)),
    unexpected: [...seen.keys()].filter((p) => !want.has(p)),
  };
}

/** Exactly these orders in ORDERS.completed, each once: by count and by reading every payload. */
export async function expectCompletedExactlyOnce(
  nc: NatsConnection,
  expected: readonly string[],
): Promise<Audit> {
  const audit = auditCompleted(await readStored(nc, "ORDERS.completed"), expected);
  expect({
    stored: audit.stored,
    lost: audit.lost.slice(0, 10),
    duplicated: audit.duplicated.slice(0, 10),
    unexpected: audit.unexpected.slice(0, 10),
  }).toEqual({ stored: expected.length, lost: [], duplicated: [], unexpected: [] });
  return audit;
}

/**
 * SIGKILLs the processor and the dispatcher in turn, each about a second after its previous
 * replacement started, for as long as its stage still has orders to do. Returns what it did.
 */
export async function killWorkersUntilDone(
  fleet: Fleet,
  jsm: JetStreamManager,
  n: number,
  { everyMs = 1_000 } = {},
): Promise<string[]> {
  const log: string[] = [];
  const loop = async (
    stage: WorkerStage,
    consumer: string,
    output: string,
    offsetMs: number,
  ): Promise<void> => {
    await sleep(offsetMs);
    for (;;) {
      await sleep(everyMs);
      const done = await countOf(jsm, output);
      if (done >= n) return;
      // Kill it while it holds deliveries it has not acked, so the kill is a fault the server must
      // repair by redelivery (a worker caught between batches would lose nothing to the kill).
      for (let tries = 0; tries < 50; tries++) {
        if ((await jsm.consumers.info("ORDERS", consumer)).num_ack_pending > 0) break;
        await sleep(10);
      }
      await fleet.killAndRestart(stage);
      log.push(`${stage} killed with ${done} on ${output}`);
    }
  };
  await Promise.all([
    loop("processor", "NEW", "ORDERS.processed", 0),
    loop("dispatcher", "DISPATCH", "ORDERS.completed", everyMs / 2),
  ]);
  return log;
}
