import { type MsgHdrs, type NatsConnection, headers as natsHeaders } from "@nats-io/nats-core";
import { type AckBody, ack, nak, term } from "../common/ack-protocol.js";
import type { CallbackGuard } from "../common/callback-guard.js";
import { errorMessage, type PublishError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { serverFeatures } from "../common/server-features.js";
import type { DeliverySpan, SendFacts } from "../common/tracing.js";
import { OUTPUT_TOO_LARGE_REASON } from "./dead-letter.js";
import type { HandlerFailures } from "./handler-failures.js";
import type { InFlight } from "./in-flight.js";
import { deadLetterMessage, maxPayload, outputHeaders, SMALL_ENOUGH, tooLarge } from "./output-message.js";
import { PubAckWindow } from "./pub-ack-window.js";
import { encodeOutput, outputMsgId, type StageDefinition, type StageOutput } from "./stage.js";
import { OutcomeKind, type StageStats } from "./stage-worker-types.js";
import type { StageWorkerOptions } from "./worker-options.js";

/** What an unrecorded delivery's send is told: it reads nothing of it. */
const UNRECORDED: SendFacts = { subject: "" };

/** What the publisher hands back to the worker that owns it. */
export interface OutputPublisherHost {
  /** Acks or naks the input and frees its place, once. */
  release(e: InFlight, kind: OutcomeKind, body: AckBody, reason?: string): void;
  /** The output could not be encoded: the handler's failure, retried like one. */
  handlerFailed(e: InFlight, err: unknown): void;
  /** The server or the connection is in trouble: pulling pauses for a while. */
  infraTrouble(description: string): void;
}

/** What a publisher is built from; all of it bound once, when its worker is built. */
export interface OutputPublisherParts {
  nc: NatsConnection;
  stage: StageDefinition;
  options: StageWorkerOptions;
  logger: Logger;
  guard: CallbackGuard;
  counts: Pick<StageStats, "processed" | "deadLettered" | "infraErrors">;
  failures: HandlerFailures;
  host: OutputPublisherHost;
}

/**
 * The output side of a StageWorker: publishes an order's output (or its dead letter) with the
 * deterministic Nats-Msg-Id, and on its PubAck acks the input; on a failed publish naks it for
 * later, never dead-lettering for infrastructure trouble. Owned by its worker.
 */
export class OutputPublisher {
  private readonly window: PubAckWindow<InFlight>;
  private readonly infraNak: AckBody;
  private readonly debug: boolean;

  constructor(private readonly p: OutputPublisherParts) {
    this.infraNak = nak(p.options.infraRetryMs);
    this.debug = p.logger.isLevelEnabled("debug");
    this.window = new PubAckWindow<InFlight>(
      p.nc,
      {
        pubAcked: (e) => this.onPubAckSafely(e),
        pubFailed: (e, err) => this.onPubFailedSafely(e, err),
        inboxFailed: p.guard.wrap(`${p.stage.name} PubAck inbox`, (err: Error) =>
          p.host.infraTrouble(`PubAck inbox: ${err.message}`),
        ),
      },
      { timeoutMs: p.options.pubAckTimeoutMs, inboxPrefix: p.options.inboxPrefix },
    );
  }

  start(): void {
    this.window.start();
  }

  stop(): void {
    this.window.stop();
  }

  /** Gives up on every publish still waiting for its PubAck: their inputs are nak'ed. */
  failAll(reason: string): void {
    this.window.failAll(reason);
  }

  publish(e: InFlight, out: StageOutput): void {
    if (e.settled) return; // given up on meanwhile (stop() past its deadline)
    const { stage, nc } = this.p;
    let data: Uint8Array;
    let h: MsgHdrs | undefined;
    try {
      data = encodeOutput(out);
      h = outputHeaders(stage, e, this.p.options.msgIds);
    } catch (err) {
      this.p.host.handlerFailed(e, err);
      return;
    }
    if (e.trace) h = this.startSend(e, e.trace, stage.outputSubject, h);
    const max = maxPayload(nc);
    if (data.length + SMALL_ENOUGH > max && tooLarge(data, h, max)) {
      e.sendSpan?.end(OUTPUT_TOO_LARGE_REASON);
      e.sendSpan = undefined;
      this.deadLetter(
        e,
        OUTPUT_TOO_LARGE_REASON,
        `output of ${data.length} bytes does not fit the server's max_payload of ${max} bytes`,
      );
      return;
    }
    if (this.debug) this.p.logger.debug({ orderNo: e.orderNo, seq: e.seq }, "publishing");
    this.window.publish(stage.outputSubject, data, h, e);
  }

  deadLetter(e: InFlight, reason: string, detail: string): void {
    e.deadLetterReason = reason;
    const failed = this.p.options.failedSubject;
    const trace = e.trace;
    if (trace) trace.event("dead_letter", { reason, detail });
    const { data, h } = deadLetterMessage(
      this.p.stage,
      e,
      reason,
      detail,
      maxPayload(this.p.nc),
      trace && ((dh) => this.startSend(e, trace, failed, dh)),
    );
    this.p.logger.warn({ seq: e.seq, reason, detail, ...trace?.logFields() }, "dead-lettering order");
    this.window.publish(failed, data, h, e);
  }

  /** Traced only: the publish's `send` span, its context written into the message's headers. */
  private startSend(e: InFlight, trace: DeliverySpan, subject: string, h: MsgHdrs | undefined): MsgHdrs {
    const out = h ?? natsHeaders();
    if (!trace.recording) {
      // Sampled out: the span reads no facts, so none are built (once per order at 99% of them).
      e.sendSpan = trace.send(out, UNRECORDED);
      return out;
    }
    const msgId =
      subject === this.p.stage.outputSubject
        ? this.p.options.msgIds
          ? outputMsgId(this.p.stage, e.orderNo)
          : undefined
        : out.get("Nats-Msg-Id") || undefined;
    e.sendSpan = trace.send(out, { subject, stream: this.p.options.stream, msgId });
    return out;
  }

  // Settling runs in the client's PubAck callback, where nothing may throw. Two methods rather than
  // one taking a step closure: that closure would be one more allocation per order.
  private onPubAckSafely(e: InFlight): void {
    try {
      this.onPubAck(e);
    } catch (err) {
      this.settleFailed(e, err);
    }
  }

  private onPubFailedSafely(e: InFlight, failure: PublishError): void {
    try {
      this.onPubFailed(e, failure);
    } catch (err) {
      this.settleFailed(e, err);
    }
  }

  private settleFailed(e: InFlight, err: unknown): void {
    this.p.guard.report(`${this.p.stage.name} PubAck`, err);
    if (!e.settled) this.p.host.release(e, OutcomeKind.Retried, this.infraNak, errorMessage(err));
  }

  private onPubAck(e: InFlight): void {
    const { counts } = this.p;
    if (e.sendSpan) {
      e.sendSpan.end();
      e.sendSpan = undefined;
    }
    this.p.failures.forget(e.seq);
    if (e.deadLetterReason === undefined) counts.processed++;
    else counts.deadLettered++;
    if (e.deadLetterReason === undefined) {
      this.p.host.release(e, OutcomeKind.Done, ack(), undefined);
      return;
    }
    // A dead-lettered input is terminated, not acked, so the server's MSG_TERMINATED advisory tells
    // monitoring about it too; with the reason where the server honours one (2.10.4+; 2.9 would
    // redeliver on `+TERM <reason>`). Asked per dead letter: after a reconnect in a cluster being
    // upgraded, the server may be another version.
    const reasonHonoured = serverFeatures(this.p.nc).termReason;
    this.p.host.release(
      e,
      OutcomeKind.DeadLettered,
      term(e.deadLetterReason, { reasonHonoured }),
      e.deadLetterReason,
    );
  }

  private onPubFailed(e: InFlight, err: PublishError): void {
    this.p.counts.infraErrors++;
    if (e.sendSpan) {
      e.sendSpan.end(err);
      e.sendSpan = undefined;
    }
    this.p.host.infraTrouble(err.oneLine());
    // Never dead-letter for infrastructure trouble: the input comes back and dedupe absorbs a
    // publish that did land after all.
    e.deadLetterReason = undefined;
    this.p.host.release(e, OutcomeKind.Retried, this.infraNak, err.message);
  }
}
