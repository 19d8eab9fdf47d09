/**
 * W3C Trace Context as it travels in NATS message headers: the `traceparent` and `tracestate`
 * headers (lowercase, as the W3C propagator writes them; read case-insensitively, since a NATS
 * header name keeps whatever case its writer chose). Pure: no OpenTelemetry import, so the order
 * lookup and the listings can read a stored message's trace id without loading any tracing code.
 */
export const TRACEPARENT = "traceparent";
export const TRACESTATE = "tracestate";

/** The fields of a `traceparent` value: `00-<trace-id>-<parent-id>-<flags>`. */
export interface TraceParent {
  /** 32 lowercase hex digits, never all zero. */
  traceId: string;
  /** 16 lowercase hex digits, never all zero. */
  spanId: string;
  /** Bit 0: sampled. */
  flags: number;
}

const TRACEPARENT_FORM = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** Parses a traceparent value; undefined when it is not one (a bad value means no context). */
export function parseTraceParent(value: string | undefined): TraceParent | undefined {
  if (value === undefined) return undefined;
  const m = TRACEPARENT_FORM.exec(value.trim());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string?,
  ];
  // Version ff is invalid; version 00 has nothing after the flags (later versions may).
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, flags: Number.parseInt(flags, 16) };
}

export function formatTraceParent(p: TraceParent): string {
  return `00-${p.traceId}-${p.spanId}-${p.flags.toString(16).padStart(2, "0")}`;
}

/** A header's value by name, whatever case its writer used, from a plain record of headers. */
export function headerIgnoringCase(
  headers: Readonly<Record<string, string>>,
  name: string,
): string | undefined {
  const exact = headers[name];
  if (exact !== undefined) return exact;
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

/** The trace id a stored message belongs to, from its headers; undefined when it carries none. */
export function traceIdOf(headers: Readonly<Record<string, string>> | undefined): string | undefined {
  return headers ? parseTraceParent(headerIgnoringCase(headers, TRACEPARENT))?.traceId : undefined;
}
