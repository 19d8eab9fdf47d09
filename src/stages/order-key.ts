import type { MsgHdrs } from "@nats-io/nats-core";
import { pipelineSteps, seedStages } from "../topology/pipeline.js";
import { Stage } from "../topology/spec.js";
import { DeadLetterHeader } from "./dead-letter.js";
import { orderNoOfIdKey } from "./payload.js";

/**
 * Which order a stored message belongs to, read the same way by the monitor feed, the order index
 * and the bounded scan, so `orderflow order <no>` finds what `orderflow monitor` showed.
 *
 * The key is deliberately lenient: it is the text the operator will type, not a validated order
 * number. An intake payload (`received` in the seed) is its own key (an invalid one too, so
 * `orderflow order "a,b"` finds the input that was dead-lettered); a later step's output is its
 * payload without the `,<step>` suffix; a dead letter is its Orderflow-Order-No header, else its
 * original payload read like its source.
 *
 * The steps are the pipeline's (topology/spec.ts stepsOf: the intake step first); left out, the
 * seed's `received`, `processed`, `completed`.
 */

/**
 * A subject's step word below the prefix (`received`, `validated`, …, or `failed` for a dead letter),
 * or `other` for a subject that is not a step of the pipeline. A string: a pipeline declares its own
 * steps; the seed's are those of {@link Stage}.
 */
export type StageOrOther = string;

/** The step word of a subject that is no step of the pipeline (e.g. `<prefix>.replayed`). */
export const OTHER_STAGE = "other";

/** The seed's steps, in order: what every function here assumes when no steps are given. */
export const SEED_STEPS: readonly string[] = Object.freeze(pipelineSteps(seedStages("NEW", "DISPATCH")));

export function stageOfSubject(
  subject: string,
  subjectPrefix: string,
  steps: readonly string[] = SEED_STEPS,
): StageOrOther {
  if (subject.length <= subjectPrefix.length + 1 || !subject.startsWith(subjectPrefix)) return OTHER_STAGE;
  if (subject.charCodeAt(subjectPrefix.length) !== 0x2e) return OTHER_STAGE; // "."
  const word = subject.slice(subjectPrefix.length + 1);
  return word === Stage.Failed || steps.includes(word) ? word : OTHER_STAGE;
}

/** Keys longer than this are not indexed: no operator types them, and they would cost memory. */
export const ORDER_KEY_MAX_CHARS = 256;

// ignoreBOM: a leading BOM is part of an order number (a CSV export writes one), not encoding noise.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

function stripSuffix(text: string, stage: string): string | undefined {
  const suffix = `,${stage}`;
  return text.endsWith(suffix) && text.length > suffix.length ? text.slice(0, -suffix.length) : undefined;
}

/** The order key of a message, or undefined when it has none (another subject, an oversize payload). */
export function orderKeyOf(
  stage: StageOrOther,
  data: Uint8Array,
  headers?: Pick<MsgHdrs, "get" | "has">,
  steps: readonly string[] = SEED_STEPS,
): string | undefined {
  if (stage === OTHER_STAGE) return undefined;
  const intake = steps[0] ?? Stage.Received;
  if (stage === Stage.Failed) {
    const fromHeader = headers?.has(DeadLetterHeader.OrderNo) ? headers.get(DeadLetterHeader.OrderNo) : "";
    if (fromHeader) return orderNoOfIdKey(fromHeader);
    // The input that failed: read like the step it was on (a later step carries its `,<step>` suffix).
    const source = headers?.get(DeadLetterHeader.SourceSubject) ?? "";
    const sourceStage = steps.find((s) => source.endsWith(`.${s}`)) ?? intake;
    return orderKeyOf(sourceStage, data, undefined, steps);
  }
  if (data.length > ORDER_KEY_MAX_CHARS * 4) return undefined;
  const text = decoder.decode(data);
  const key = stage === intake ? text : (stripSuffix(text, stage) ?? text);
  return key.length === 0 || key.length > ORDER_KEY_MAX_CHARS ? undefined : key;
}
