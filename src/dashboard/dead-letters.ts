import type { NatsConnection } from "@nats-io/nats-core";
import { type Logger, silentLogger } from "../common/logger.js";
import type { OrderEvent } from "../monitor/order-event.js";
import { type DeadLetterRow, deadLetterFacts, deadLetterRow } from "../orders/dead-letter-row.js";
import { readToEnd, type StreamAccess } from "../orders/read-to-end.js";
import { Stage, stepsOf, subjectOf, type TopologyOptions } from "../topology/spec.js";

export type { DeadLetterRow } from "../orders/dead-letter-row.js";

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
    this.add(
      deadLetterRow({
        seq: e.seq,
        time: e.time,
        info: e.deadLetter ?? {},
        orderNo: e.orderNo,
        payload: e.payload,
      }),
    );
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
   * Reads the stream's failed subject from its start, keeping the newest of the first `maxRead`.
   * Dead letters are rare, so this is small in a healthy pipeline; beyond `maxRead` the page shows
   * the newest it has seen, and the feed adds new ones.
   */
  preload(
    nc: NatsConnection,
    t: TopologyOptions,
    {
      inboxPrefix,
      maxRead = 10_000,
      logger = silentLogger,
    }: StreamAccess & { maxRead?: number; logger?: Logger },
  ): Promise<number> {
    return readToEnd(
      nc,
      t.stream,
      { subject: subjectOf(t, Stage.Failed), limit: maxRead, inboxPrefix, logger },
      (m) => this.add(deadLetterRow(deadLetterFacts(m, stepsOf(t)))),
    );
  }
}
