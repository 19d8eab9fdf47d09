import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "../common/logger.js";
import { OTHER_STAGE, SEED_STEPS, stageOfSubject } from "../stages/order-key.js";
import type { OutputLedger } from "../stages/output-ledger.js";
import { stepsOf, type TopologyOptions } from "../topology/spec.js";
import { type OrderLookupOptions, orderLookupOptions } from "./lookup-options.js";
import { askIndex } from "./order-lookup.js";

/** The stream's last sequence is read at most this often: late redeliveries come in bursts. */
const STREAM_END_TTL_MS = 1_000;

/**
 * The stages' {@link OutputLedger}, answered by the order index over request/reply. The answer
 * counts only when the index has read up to the stream's end as it was just now: the first
 * attempt's output was stored before the redelivery came, so it is then in what the index read.
 */
export class IndexOutputLedger implements OutputLedger {
  private readonly o: OrderLookupOptions;
  private jsm: JetStreamManager | undefined;
  private end: { lastSeq: number; at: number } | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly topology: TopologyOptions,
    opts: Partial<OrderLookupOptions> = {},
    private readonly logger?: Logger,
  ) {
    this.o = orderLookupOptions(opts);
  }

  async hasOutput(q: {
    orderNo: string;
    outputSubject: string;
    afterSeq: number;
  }): Promise<boolean | undefined> {
    const through = await this.streamEnd();
    const { reply, problem } = await askIndex(this.nc, this.o, q.orderNo, through);
    if (!reply) {
      this.logger?.debug({ orderNo: q.orderNo, problem }, "output ledger: the order index did not answer");
      return undefined;
    }
    // An index that has not read the stream's end, or one too old to say stages, cannot vouch.
    if (reply.indexedThrough < through || reply.stages === undefined) return undefined;
    const want = stageOfSubject(q.outputSubject, this.topology.subjectPrefix, stepsOf(this.topology));
    // An index run with another pipeline does not record this step: it cannot vouch either way.
    if (want !== OTHER_STAGE && !(reply.steps ?? SEED_STEPS).includes(want)) return undefined;
    return reply.seqs.some((seq, i) => seq > q.afterSeq && reply.stages?.[i] === want);
  }

  private async streamEnd(): Promise<number> {
    const now = Date.now();
    if (this.end && now - this.end.at < STREAM_END_TTL_MS) return this.end.lastSeq;
    this.jsm ??= await jetstreamManager(this.nc);
    const si = await this.jsm.streams.info(this.topology.stream);
    this.end = { lastSeq: si.state.last_seq, at: now };
    return si.state.last_seq;
  }
}
