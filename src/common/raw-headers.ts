import { Match, type Msg, type MsgHdrs, MsgHdrsImpl } from "@nats-io/nats-core";
import { MsgImpl } from "@nats-io/nats-core/internal";

/**
 * Header access on the hot path without what nats-core's MsgHdrsImpl does per call. Reading
 * `msg.headers` decodes the whole block (a string, a split, a MIME-canonical copy of every name, a
 * Map of arrays) and `set()` canonicalises, scans and validates; a traced worker did both for every
 * order, and the garbage made its young-generation collections twice as costly (docs/benchmarks.md,
 * "Tracing"). These give the same answers for the one header they are asked about.
 */

const CR = 0x0d;
const LF = 0x0a;
const COLON = 0x3a;
const decoder = new TextDecoder();

/**
 * The first value of header `name` (given in lowercase) in a delivered message, found in its raw
 * header block without decoding the rest; undefined when absent or empty. As nats-core's
 * `get(name) || get(name, Match.IgnoreCase)`: a name written exactly as given wins, else the first
 * written in any case; the value is trimmed. A message from another client implementation (not
 * nats-core's MsgImpl) is read through its decoded headers.
 *
 * @throws as `msg.headers` does, only on that fallback
 */
export function rawHeader(msg: Msg, name: string): string | undefined {
  if (!(msg instanceof MsgImpl)) return decodedHeader(msg.headers, name);
  const end = msg._msg.hdr;
  if (end <= 0) return undefined;
  const b = msg._rdata;
  // The status line ("NATS/1.0[ code description]") is not a header.
  let line = b.indexOf(LF, 0) + 1;
  let anyCase: string | undefined;
  while (line > 0 && line < end) {
    let eol = b.indexOf(LF, line);
    if (eol < 0 || eol > end) eol = end;
    const stop = eol > line && b[eol - 1] === CR ? eol - 1 : eol;
    const how = nameAt(b, line, stop, name);
    if (how !== NameMatch.None) {
      const value = decoder.decode(b.subarray(line + name.length + 1, stop)).trim();
      if (value !== "") {
        if (how === NameMatch.Exact) return value;
        anyCase ??= value;
      }
    }
    line = eol + 1;
  }
  return anyCase;
}

enum NameMatch {
  None,
  Exact,
  IgnoringCase,
}

/** Whether the header line at `start` is `name:` (exactly, or in another case). */
function nameAt(b: Uint8Array, start: number, stop: number, name: string): NameMatch {
  const n = name.length;
  if (stop - start <= n || b[start + n] !== COLON) return NameMatch.None;
  let exact = true;
  for (let i = 0; i < n; i++) {
    const c = b[start + i] as number;
    const want = name.charCodeAt(i);
    if (c === want) continue;
    // ASCII letters only: `want` is lowercase, `c` may be its uppercase.
    if (c >= 0x41 && c <= 0x5a && c + 0x20 === want) {
      exact = false;
      continue;
    }
    return NameMatch.None;
  }
  return exact ? NameMatch.Exact : NameMatch.IgnoringCase;
}

function decodedHeader(h: MsgHdrs | undefined, name: string): string | undefined {
  if (!h) return undefined;
  return h.get(name) || h.get(name, Match.IgnoreCase) || undefined;
}

/**
 * `h.set(name, value)` for headers made by nats-core (`headers()`, `MsgHdrsImpl.fromRecord`), without
 * the per-call canonicalisation and scans: the same entry `set()` would leave, for a value that
 * `set()` would store unchanged (no CR or LF, nothing to trim). Anything else goes through `set()`,
 * which validates (and throws) as it always has. The name is one of ours, known to be valid.
 */
export function setHeader(h: MsgHdrs, name: HeaderName, value: string): void {
  if (h instanceof MsgHdrsImpl && plainValue(value)) {
    // As set() with exact matching: that exact name's entry replaced, moved last; others kept.
    h.headers.delete(name);
    h.headers.set(name, [value]);
    return;
  }
  h.set(name, value);
}

/** Header names orderflow writes through `setHeader`: constants, valid as header names. */
export type HeaderName = "traceparent" | "tracestate";

function plainValue(v: string): boolean {
  return v.indexOf("\r") < 0 && v.indexOf("\n") < 0 && v.trim() === v;
}
