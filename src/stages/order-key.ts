import type { MsgHdrs } from "@nats-io/nats-core";
import { STAGES, Stage } from "../topology/spec.js";
import { DeadLetterHeader } from "./dead-letter.js";
import { orderNoOfIdKey } from "./payload.js";

/**
 * Which order a stored message belongs to, read the same way by the monitor feed, the order index
 * and the bounded scan, so `orderflow order <no>` finds what `orderflow monitor` showed.
 *
 * The key is deliberately lenient: it is the text the operator will type, not a validated order
 * number. A received payload is its own key (an invalid one too, so `orderflow order "a,b"` finds
 * the input that was dead-lettered); a stage output is its payload without the `,<stage>` suffix; a
 * dead letter is its Orderflow-Order-No header, else its original payload read like its source.
 */

/** A subject's stage word below the prefix, or `other` for a subject that is not a pipeline stage. */
export type StageOrOther = Stage | "other";

export function stageOfSubject(subject: string, subjectPrefix: string): StageOrOther {
  if (!subject.startsWith(`${subjectPrefix}.`)) return "other";
  const word = subject.slice(subjectPrefix.length + 1);
  return (STAGES as readonly string[]).includes(word) ? (word as Stage) : "other";
}

/** Keys longer than this are not indexed: no operator types them, and they would cost memory. */
export const ORDER_KEY_MAX_CHARS = 256;

// ignoreBOM: a leading BOM is part of an order number (a CSV export writes one), not encoding noise.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

function stripSuffix(text: string, stage: Stage): string | undefined {
  const suffix = `,${stage}`;
  return text.endsWith(suffix) && text.length > suffix.length ? text.slice(0, -suffix.length) : undefined;
}

/** The order key of a message, or undefined when it has none (another subject, an oversize payload). */
export function orderKeyOf(
  stage: StageOrOther,
  data: Uint8Array,
  headers?: Pick<MsgHdrs, "get" | "has">,
): string | undefined {
  if (stage === "other") return undefined;
  if (stage === Stage.Failed) {
    const fromHeader = headers?.has(DeadLetterHeader.OrderNo) ? headers.get(DeadLetterHeader.OrderNo) : "";
    if (fromHeader) return orderNoOfIdKey(fromHeader);
    const source = headers?.get(DeadLetterHeader.SourceSubject) ?? "";
    const sourceStage = STAGES.find((s) => source.endsWith(`.${s}`)) ?? Stage.Received;
    return orderKeyOf(sourceStage === Stage.Failed ? Stage.Received : sourceStage, data);
  }
  if (data.length > ORDER_KEY_MAX_CHARS * 4) return undefined;
  const text = decoder.decode(data);
  const key = stage === Stage.Received ? text : (stripSuffix(text, stage) ?? text);
  return key.length === 0 || key.length > ORDER_KEY_MAX_CHARS ? undefined : key;
}
