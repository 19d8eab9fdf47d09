import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/nats-core";
import { type Logger, silentLogger } from "../common/logger.js";
import type { OrderEvent } from "../monitor/order-event.js";
import type { DeadLetter } from "../orders/dead-letters.js";
import { deadLetterInfo, headersRecord } from "../stages/dead-letter-info.js";
import { orderKeyOf } from "../stages/order-key.js";
import { Stage, subjectOf, type TopologyOptions } from "../topology/spec.js";

/** One dead letter as the page lists it: the fields of the CLI's listing it shows. */
export type DeadLetterRow = Pick<
  DeadLetter,
  "seq" | "time" | "stage" | "reason" | "error" | "orderNo" | "payload" | "deliveries"
>;

// ignoreBOM: a leading BOM is part of an order number (a CSV export writes one), not encoding noise.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
const IDLE_END_MS = 2_000;

function row(
  seq: number,
  time: Date,
  data: Uint8Array,
  headers: MsgHdrs | undefined,
  payload: string,
): DeadLetterRow {
  const info = deadLetterInfo(headersRecord(headers));
  return {
    seq,
    time: time.toISOString(),
    stage: info.stage ?? "unknown",
    reason: info.reason ?? "no reason recorded",
    error: info.error ?? "",
    orderNo: orderKeyOf(Stage.Failed, data, headers),
    payload,
    deliveries: info.deliveries,
  };
}

/**
 * The newest dead letters, newest first: read back from the stream at start (so a restarted `up`
 * still shows them), then kept up to date from the MONITOR feed.
 */
export class DeadLetterLog {
  private rows: DeadLetterRow[] = [];

  constructor(private readonly capacity = 50) {}

  /** From a feed event; ignores every stage but failed. */
  onEvent(e: OrderEvent): void {
    if (e.stage !== Stage.Failed) return;
    const info = e.deadLetter ?? {};
    this.add({
      seq: e.seq,
      time: e.time.toISOString(),
      stage: info.stage ?? "unknown",
      reason: info.reason ?? "no reason recorded",
      error: info.error ?? "",
      orderNo: e.orderNo,
      payload: e.payload,
      deliveries: info.deliveries,
    });
  }

  private add(r: DeadLetterRow): void {
    // The preload and the feed can both see a dead letter stored while `up` started.
    if (this.rows.some((x) => x.seq === r.seq)) return;
    this.rows.unshift(r);
    this.rows.sort((a, b) => b.seq - a.seq);
    if (this.rows.length > this.capacity) this.rows.length = this.capacity;
  }

  list(): DeadLetterRow[] {
    return [...this.rows];
  }

  /**
   * Reads the stream's failed subject from its start (an ordered consumer: ephemeral, no acks),
   * keeping the newest of the first `maxRead`. Dead letters are rare, so this is small in a healthy
   * pipeline; beyond `maxRead` the page shows the newest it has seen, and the feed adds new ones.
   */
  async preload(
    nc: NatsConnection,
    t: TopologyOptions,
    { maxRead = 10_000, logger = silentLogger }: { maxRead?: number; logger?: Logger } = {},
  ): Promise<number> {
    const subject = subjectOf(t, Stage.Failed);
    const jsm = await jetstreamManager(nc);
    const si = await jsm.streams.info(t.stream, { subjects_filter: subject });
    const stored = si.state.subjects?.[subject] ?? 0;
    if (stored === 0) return 0;
    const consumer = await jetstream(nc).consumers.get(t.stream, { filter_subjects: subject });
    const messages = await consumer.consume({ max_messages: 500 });
    let read = 0;
    // Messages removed between the info and the read never come: stop when nothing arrives.
    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => messages.stop(), IDLE_END_MS);
    };
    touch();
    try {
      for await (const m of messages) {
        this.add(row(m.seq, m.time, m.data, m.headers, decoder.decode(m.data)));
        read++;
        if (read >= Math.min(stored, maxRead) || m.info.pending === 0) break;
        touch();
      }
    } finally {
      clearTimeout(idle);
      await messages.close();
      await consumer
        .delete()
        .catch((err: unknown) => logger.warn({ err }, "could not delete the dead-letter reader consumer"));
    }
    return read;
  }
}
