import { formatNumber } from "../common/format.js";
import { traceLink } from "../common/trace-context.js";
import { describeDeadLetter } from "../stages/dead-letter-info.js";
import type { TraceLinkOptions } from "./lookup-options.js";
import type { LookupCoverage, OrderLookup } from "./order-lookup.js";
import { type OrderState, orderState, type TimelineEntry } from "./timeline.js";

/** `5ms`, `1.250s`, `2m03s`: the gaps between stages span milliseconds to hours. */
export function formatGap(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(3)}s`;
  const totalSec = Math.round(ms / 1000);
  const h = Math.floor(totalSec / 3600);
  const m = Math.floor((totalSec % 3600) / 60);
  const s = String(totalSec % 60).padStart(2, "0");
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m${s}s` : `${m}m${s}s`;
}

function stamp(t: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())} ${p(t.getHours())}:${p(t.getMinutes())}:${p(t.getSeconds())}.${p(t.getMilliseconds(), 3)}`;
}

/** Where the answer came from, in a few words. */
export function coverageText(c: LookupCoverage): string {
  const parts: string[] = [];
  if (c.index) parts.push(`order index through seq ${formatNumber(c.index.indexedThrough)}`);
  if (c.scanned && c.scanned.messages > 0) {
    parts.push(
      `scan of seq ${formatNumber(c.scanned.from)}..${formatNumber(c.scanned.to)} (${formatNumber(c.scanned.messages)} messages)`,
    );
  }
  return `searched ${c.stream}: ${parts.join(" + ") || "nothing (empty stream)"}`;
}

/**
 * The timeline screen of `orderflow order`. A message published in a trace shows its trace id;
 * with a `traceUrl` template each distinct trace gets one line with its link after the events.
 */
export function timelineText(l: OrderLookup, links: Partial<TraceLinkOptions> = {}): string {
  const e = l.entries;
  const first = e[0];
  const last = e[e.length - 1];
  const total =
    first && last && e.length > 1 ? ` in ${formatGap(last.time.getTime() - first.time.getTime())}` : "";
  const lines = [
    `order ${l.orderNo}: ${orderState(e, l.steps)} (${e.length} ${e.length === 1 ? "event" : "events"}${total})`,
  ];
  const stageWidth = Math.max(...e.map((x) => x.stage.length));
  const seqWidth = Math.max(...e.map((x) => `seq ${x.seq}`.length));
  const traceWidth = Math.max(0, ...e.map((x) => (x.traceId ? `trace ${x.traceId}`.length : 0)));
  e.forEach((x, i) => {
    const prev = e[i - 1];
    const gap = prev ? `+${formatGap(x.time.getTime() - prev.time.getTime())}` : "";
    const cols = [stamp(x.time), x.stage.padEnd(stageWidth), `seq ${x.seq}`.padEnd(seqWidth), gap.padEnd(9)];
    // Only when some message has one, so a pipeline without tracing prints what it always did.
    if (traceWidth > 0) cols.push((x.traceId ? `trace ${x.traceId}` : "").padEnd(traceWidth));
    if (x.deadLetter) cols.push(`${describeDeadLetter(x.deadLetter)}; payload ${JSON.stringify(x.payload)}`);
    if (x.replayOf !== undefined) cols.push(`replay of dead letter seq ${x.replayOf}`);
    lines.push(`  ${cols.join("  ").trimEnd()}`);
  });
  const template = links.traceUrl;
  if (template) {
    const traces = new Map<string, string | undefined>();
    for (const x of e) if (x.traceId && !traces.has(x.traceId)) traces.set(x.traceId, x.spanId);
    for (const [traceId, spanId] of traces) {
      lines.push(`trace ${traceId}: ${traceLink(template, { traceId, spanId })}`);
    }
  }
  lines.push(coverageText(l.coverage));
  return lines.join("\n");
}

/** The JSON document of `orderflow order --json` (and of the page's lookup). */
export interface TimelineJson {
  orderNo: string;
  found: boolean;
  state: OrderState;
  entries: Array<
    Omit<TimelineEntry, "time"> & {
      time: string;
      sincePreviousMs: number | null;
      /** The entry's trace in the operator's tracing UI: with a `traceUrl` template and a trace id only. */
      traceUrl?: string;
    }
  >;
  coverage: OrderLookup["coverage"];
  notice?: string;
}

/** The JSON document of `orderflow order --json`: `traceId` per traced entry, and `traceUrl` with a template. */
export function timelineJson(l: OrderLookup, links: Partial<TraceLinkOptions> = {}): TimelineJson {
  const template = links.traceUrl;
  return {
    orderNo: l.orderNo,
    found: l.entries.length > 0,
    state: orderState(l.entries, l.steps),
    entries: l.entries.map((x, i) => {
      const prev = l.entries[i - 1];
      return {
        ...x,
        time: x.time.toISOString(),
        sincePreviousMs: prev ? x.time.getTime() - prev.time.getTime() : null,
        ...(template && x.traceId
          ? { traceUrl: traceLink(template, { traceId: x.traceId, spanId: x.spanId }) }
          : {}),
      };
    }),
    coverage: l.coverage,
    ...(l.notice ? { notice: l.notice } : {}),
  };
}
