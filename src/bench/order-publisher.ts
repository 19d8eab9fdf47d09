import { headers, type NatsConnection } from "@nats-io/nats-core";
import { PublishError } from "../common/errors.js";
import { sleep } from "../common/sleep.js";
import type { SendSpan, Tracing } from "../common/tracing.js";
import { PubAckWindow } from "../stages/pub-ack-window.js";

export interface PublishRun {
  subject: string;
  /** Order numbers `first … first+count-1`. */
  first: number;
  count: number;
  /** Set Nats-Msg-Id `<orderNo>:received`. */
  msgIds: boolean;
  /** Most publishes awaiting their PubAck. */
  window: number;
  /** Offered rate in orders/s; 0 = as fast as the server takes them. */
  ratePerSec: number;
  /** Called as each order goes out (for latency), with performance.now(). */
  onSent?: (orderNo: number, at: number) => void;
  onAcked?: (acked: number) => void;
  /** Called as each order's PubAck arrives, with performance.now() (for the latency floor). */
  onAckedOrder?: (orderNo: number, at: number) => void;
  inboxPrefix?: string;
  /** When on, each order starts its own trace: a `send` span, ended at its PubAck. Default: none. */
  tracing?: Tracing;
}

/**
 * Publishes orders through JetStream with a bounded window of PubAcks in flight, reusing the
 * stages' PubAckWindow so the load generator is never the bottleneck it measures. Every PubAck is
 * awaited; a failed publish fails the run.
 */
const encoder = new TextEncoder();
/** A publish the stream asked to have again later goes out again after this long. */
const RETRY_LATER_MS = 50;
/** More "later" answers than this in one run means the server is not keeping up at all. */
const MAX_RETRIES_LATER = 100_000;

export async function publishRun(nc: NatsConnection, run: PublishRun): Promise<void> {
  let acked = 0;
  let retries = 0;
  let failure: PublishError | undefined;
  let wake: (() => void) | undefined;
  // Only when traced: each order's send span until its PubAck.
  const spans = run.tracing ? new Map<number, SendSpan>() : undefined;
  const endSpan = (orderNo: number, err?: unknown): void => {
    if (!spans) return;
    spans.get(orderNo)?.end(err);
    spans.delete(orderNo);
  };
  const window = new PubAckWindow<number>(
    nc,
    {
      pubAcked: (orderNo) => {
        acked++;
        if (spans) endSpan(orderNo);
        run.onAckedOrder?.(orderNo, performance.now());
        run.onAcked?.(acked);
        wake?.();
      },
      pubFailed: (orderNo, err) => {
        // The stream asked for it again shortly (2.11+ ingest buffer full, or a duplicate id still
        // being stored): the same order, the same msg id, a moment later.
        if (err.retryLater && retries++ < MAX_RETRIES_LATER) {
          setTimeout(() => send(orderNo), RETRY_LATER_MS);
          return;
        }
        if (spans) endSpan(orderNo, err);
        failure ??= err;
        wake?.();
      },
      inboxFailed: (err) => {
        failure ??= new PublishError(run.subject, `PubAck inbox failed: ${err.message}`, { cause: err });
        wake?.();
      },
    },
    { timeoutMs: 10_000, inboxPrefix: run.inboxPrefix },
  );
  const send = (orderNo: number): void => {
    const body = String(orderNo);
    let h: ReturnType<typeof headers> | undefined;
    if (run.msgIds) {
      h = headers();
      h.set("Nats-Msg-Id", `${body}:received`);
    }
    if (run.tracing && spans) {
      // Sent again after a "later": that publish's span ends, this one starts its own.
      endSpan(orderNo, "sent again: the stream asked for it later");
      h ??= headers();
      spans.set(
        orderNo,
        run.tracing.send(h, {
          subject: run.subject,
          msgId: run.msgIds ? `${body}:received` : undefined,
          orderNo: body,
        }),
      );
    }
    window.publish(run.subject, encoder.encode(body), h, orderNo);
  };
  window.start();
  await nc.flush();
  const started = performance.now();
  const waitForRoom = () =>
    new Promise<void>((resolve) => {
      wake = () => {
        wake = undefined;
        resolve();
      };
    });
  try {
    for (let i = 0; i < run.count; i++) {
      if (failure) throw failure;
      while (window.size >= run.window) await waitForRoom();
      if (run.ratePerSec > 0) {
        const due = started + (i * 1000) / run.ratePerSec;
        const now = performance.now();
        if (due > now + 1) await sleep(due - now);
      } else if (i % 1000 === 999) {
        // Let socket writes and PubAcks through between bursts.
        await new Promise((r) => setImmediate(r));
      }
      const orderNo = run.first + i;
      run.onSent?.(orderNo, performance.now());
      send(orderNo);
    }
    while (acked < run.count) {
      if (failure) throw failure;
      await waitForRoom();
    }
  } finally {
    window.stop();
  }
}
