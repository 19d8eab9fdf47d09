import { UsageError } from "./errors.js";

/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) as it travels in NATS message headers:
 * `traceparent` and `tracestate`, lowercase as the W3C propagator writes them, read
 * case-insensitively since a NATS header name keeps whatever case its writer chose. Pure: no
 * OpenTelemetry import, so the order lookup (`orderflow order`, the dashboard) reads a stored
 * message's trace without loading any tracing code, and the tracing side (telemetry/) shares it.
 */

/** The header names, lowercase as the W3C propagator writes them; readers match them case-insensitively. */
export const TRACEPARENT_HEADER = "traceparent";
export const TRACESTATE_HEADER = "tracestate";

/** The parts of a `traceparent` value. */
export interface TraceContext {
  /** 32 lowercase hex digits, not all zero. */
  traceId: string;
  /** The parent span: 16 lowercase hex digits, not all zero. */
  spanId: string;
  /** The trace-flags byte; bit 0 is "sampled". */
  flags: number;
}

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
/** version-00 layout; a later version keeps it as its first 55 characters. */
const VERSION_00 = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})/;
const VERSION_00_LENGTH = 55;
const ALL_ZERO = /^0+$/;
const SAMPLED = 0x01;

/**
 * The trace context of a `traceparent` value, or undefined when it is not a valid one: uppercase
 * hex, version ff, an all-zero trace or span id, or any other layout. Version 00 is exactly 55
 * characters; a later version may carry more after a `-` and is read by its first 55 (as the
 * spec asks of a reader that knows only 00).
 */
export function parseTraceparent(value: string | undefined): TraceContext | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  const m = VERSION_00.exec(v);
  if (!m) return undefined;
  const [, version, traceId, spanId, flagsHex] = m as unknown as [string, string, string, string, string];
  if (version === "ff") return undefined;
  if (
    version === "00"
      ? v.length !== VERSION_00_LENGTH
      : v.length > VERSION_00_LENGTH && v[VERSION_00_LENGTH] !== "-"
  ) {
    return undefined;
  }
  if (ALL_ZERO.test(traceId) || ALL_ZERO.test(spanId)) return undefined;
  return { traceId, spanId, flags: Number.parseInt(flagsHex, 16) };
}

/**
 * The flags of a `traceparent` in the form every W3C propagator writes (version 00, lowercase, 55
 * characters), checked character by character with nothing allocated; -1 for any other value,
 * which `parseTraceparent` then reads (or refuses). The same verdict as `parseTraceparent` on the
 * values it accepts: the hot path of a traced worker asks this once per order.
 */
export function plainTraceparentFlags(v: string): number {
  if (v.length !== VERSION_00_LENGTH || v.charCodeAt(0) !== 0x30 || v.charCodeAt(1) !== 0x30) return -1;
  if (v.charCodeAt(2) !== DASH || v.charCodeAt(35) !== DASH || v.charCodeAt(52) !== DASH) return -1;
  if (!lowerHex(v, 3, 35) || !lowerHex(v, 36, 52) || !lowerHex(v, 53, 55)) return -1;
  return (hexDigit(v.charCodeAt(53)) << 4) | hexDigit(v.charCodeAt(54));
}

const DASH = 0x2d;

/** Lowercase hex from `start` to `end`, not all zero (an all-zero trace or span id is invalid; flags 00 are not). */
function lowerHex(v: string, start: number, end: number): boolean {
  let nonZero = end - start === 2;
  for (let i = start; i < end; i++) {
    const d = hexDigit(v.charCodeAt(i));
    if (d < 0) return false;
    if (d !== 0) nonZero = true;
  }
  return nonZero;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/** A version-00 `traceparent` value; throws RangeError on an id that is not valid hex of its length or all zero. */
export function formatTraceparent(ctx: {
  traceId: string;
  spanId: string;
  sampled?: boolean;
  flags?: number;
}): string {
  if (!TRACE_ID.test(ctx.traceId) || ALL_ZERO.test(ctx.traceId)) {
    throw new RangeError(
      `trace id must be 32 lowercase hex digits, not all zero, got ${JSON.stringify(ctx.traceId)}`,
    );
  }
  if (!SPAN_ID.test(ctx.spanId) || ALL_ZERO.test(ctx.spanId)) {
    throw new RangeError(
      `span id must be 16 lowercase hex digits, not all zero, got ${JSON.stringify(ctx.spanId)}`,
    );
  }
  const flags = ctx.flags ?? (ctx.sampled ? SAMPLED : 0);
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff) {
    throw new RangeError(`trace flags must be a byte, got ${flags}`);
  }
  return `00-${ctx.traceId}-${ctx.spanId}-${flags.toString(16).padStart(2, "0")}`;
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

/** The trace id a stored message belongs to, from its headers as a record; undefined when it carries none. */
export function traceIdOf(headers: Readonly<Record<string, string>> | undefined): string | undefined {
  return headers ? parseTraceparent(headerIgnoringCase(headers, TRACEPARENT_HEADER))?.traceId : undefined;
}

/** What a trace-link template has in place of the trace id (and, optionally, the span id). */
export const TRACE_ID_PLACEHOLDER = "{traceId}";
export const SPAN_ID_PLACEHOLDER = "{spanId}";

/**
 * The link to a trace in the operator's tracing UI: `template` with every `{traceId}` (and
 * `{spanId}`, empty when unknown) replaced. The ids are hex, so nothing needs escaping.
 */
export function traceLink(template: string, ctx: { traceId: string; spanId?: string }): string {
  return template
    .replaceAll(TRACE_ID_PLACEHOLDER, ctx.traceId)
    .replaceAll(SPAN_ID_PLACEHOLDER, ctx.spanId ?? "");
}

/**
 * A `--trace-url` template, checked: it must name the trace (`{traceId}`) and make an http(s) URL,
 * since the dashboard renders it as a link (a `javascript:` URL would run in the page).
 */
export function checkTraceUrlTemplate(template: string): string {
  const hint =
    "give a URL with {traceId} where the trace id goes, e.g. http://localhost:16686/trace/{traceId} (Jaeger)";
  if (!template.includes(TRACE_ID_PLACEHOLDER)) {
    throw new UsageError(`the trace URL ${JSON.stringify(template)} has no {traceId}`, { hint });
  }
  let url: URL;
  try {
    url = new URL(traceLink(template, { traceId: `${"0".repeat(31)}1`, spanId: `${"0".repeat(15)}1` }));
  } catch (err) {
    throw new UsageError(`the trace URL ${JSON.stringify(template)} is not a URL`, { hint, cause: err });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`the trace URL ${JSON.stringify(template)} is not http or https`, { hint });
  }
  return template;
}
