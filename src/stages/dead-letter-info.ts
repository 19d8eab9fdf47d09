import type { MsgHdrs } from "@nats-io/nats-core";
import { DeadLetterHeader } from "./dead-letter.js";

/** Why an order was dead-lettered, read back from the headers a stage worker wrote (stages/dead-letter.ts). */
export interface DeadLetterInfo {
  /** The stage that gave up: `processor`, `dispatcher`, … */
  stage?: string;
  /** Machine-readable reason: `empty`, `comma`, `max-attempts`, … */
  reason?: string;
  /** Human-readable detail. */
  error?: string;
  sourceSeq?: number;
  sourceSubject?: string;
  deliveries?: number;
}

/** Every header as a plain object (first value of each key), for JSON output. */
export function headersRecord(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const key of h.keys()) out[key] = h.get(key);
  return out;
}

export function deadLetterInfo(h: Record<string, string>): DeadLetterInfo {
  const num = (k: string): number | undefined => {
    const v = h[k];
    const n = v === undefined ? Number.NaN : Number(v);
    return Number.isFinite(n) ? n : undefined;
  };
  const info: DeadLetterInfo = {
    stage: h[DeadLetterHeader.Stage],
    reason: h[DeadLetterHeader.Reason],
    error: h[DeadLetterHeader.Error],
    sourceSeq: num(DeadLetterHeader.SourceSeq),
    sourceSubject: h[DeadLetterHeader.SourceSubject],
    deliveries: num(DeadLetterHeader.Deliveries),
  };
  return Object.fromEntries(Object.entries(info).filter(([, v]) => v !== undefined)) as DeadLetterInfo;
}

/** `comma: order number contains a comma at byte 2 (processor, input seq 3, 1 delivery)` */
export function describeDeadLetter(d: DeadLetterInfo): string {
  const head = [d.reason, d.error].filter(Boolean).join(": ") || "no reason recorded";
  const where = [
    d.stage,
    d.sourceSeq !== undefined ? `input seq ${d.sourceSeq}` : undefined,
    d.deliveries !== undefined
      ? `${d.deliveries} ${d.deliveries === 1 ? "delivery" : "deliveries"}`
      : undefined,
  ].filter(Boolean);
  return where.length > 0 ? `${head} (${where.join(", ")})` : head;
}
