import { type AckBody, ack, nak } from "../common/ack-protocol.js";
import { parseAckSubject } from "../common/ack-subject.js";
import type { CallbackGuard } from "../common/callback-guard.js";
import type { Logger } from "../common/logger.js";
import type { InFlight } from "./in-flight.js";
import { type OutputLedger, pastDuplicateWindow } from "./output-ledger.js";
import type { StageDefinition } from "./stage.js";
import { OutcomeKind, type StageStats } from "./stage-worker-types.js";
import type { StageWorkerOptions } from "./worker-options.js";

/** What the check needs of its worker: bound once when the worker is built, not per delivery. */
export interface LateRedeliveryHost {
  readonly stage: StageDefinition;
  readonly options: Pick<StageWorkerOptions, "lateHoldMs" | "duplicateWindowMs">;
  readonly ledger: OutputLedger | undefined;
  readonly logger: Logger;
  readonly guard: CallbackGuard;
  readonly counts: Pick<StageStats, "alreadyStored" | "lateHeld">;
  /** Goes on as for any delivery: the handler runs. */
  admit(e: InFlight): void;
  release(e: InFlight, kind: OutcomeKind, body: AckBody, reason?: string): void;
  /**
   * There is no ledger to ask: the input goes back at once and the worker stops with one line,
   * rather than hold the order forever.
   */
  cannotVerify(e: InFlight): void;
}

/**
 * Redeliveries past the stream's duplicate window, where dedupe can no longer absorb a second
 * output. Only deliveries with a delivery count above one come here, so the common path pays
 * nothing for it.
 */
export class LateRedeliveryCheck {
  private warnedAt = 0;
  private readonly holdNak: AckBody;

  constructor(private readonly host: LateRedeliveryHost) {
    this.holdNak = nak(host.options.lateHoldMs);
  }

  /** Whether the input was stored long enough ago that a second output might not be deduplicated. */
  isLate(e: InFlight): boolean {
    const d = parseAckSubject(e.reply);
    return (
      d !== undefined && pastDuplicateWindow(d.timestampMs, Date.now(), this.host.options.duplicateWindowMs)
    );
  }

  /**
   * The order index says whether the first attempt stored an output. Where it cannot tell for now,
   * the input is held (an order late is better than an order shipped twice), tried again after
   * lateHoldMs, and the hold is logged. With no ledger at all it could never tell: the worker stops.
   */
  verify(e: InFlight): void {
    const host = this.host;
    if (host.ledger === undefined) {
      host.cannotVerify(e);
      return;
    }
    host.ledger
      .hasOutput({
        orderNo: e.orderNo,
        outputSubject: host.stage.outputSubject,
        afterSeq: e.seq,
      })
      .then((stored) => {
        if (e.settled) return;
        if (stored === true) {
          host.counts.alreadyStored++;
          host.logger.info(
            { seq: e.seq, orderNo: e.orderNo, deliveries: e.deliveryCount },
            "late redelivery: the output is already stored; acked without a second one",
          );
          host.release(e, OutcomeKind.Done, ack(), "output already stored");
        } else if (stored === false) {
          host.admit(e);
        } else {
          this.hold(e);
        }
      })
      .catch((err: unknown) => {
        host.guard.report(`${host.stage.name} late redelivery check`, err);
        if (!e.settled) this.hold(e);
      });
  }

  private hold(e: InFlight): void {
    const host = this.host;
    host.counts.lateHeld++;
    const now = Date.now();
    if (now - this.warnedAt > 30_000) {
      this.warnedAt = now;
      host.logger.warn(
        { seq: e.seq, orderNo: e.orderNo, held: host.counts.lateHeld },
        "late redelivery held: no order index can tell whether its output is already stored; run `orderflow indexer` (or `up`), or --late-redeliveries publish to accept a possible second output",
      );
    }
    host.release(e, OutcomeKind.Retried, this.holdNak, "late redelivery held");
  }
}
