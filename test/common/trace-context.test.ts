import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/common/errors.js";
import {
  checkTraceUrlTemplate,
  formatTraceparent,
  parseTraceparent,
  traceLink,
} from "../../src/common/trace-context.js";

// The example of the W3C Trace Context recommendation, §3.2.
const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";
const EXAMPLE = `00-${TRACE}-${SPAN}-01`;

describe("traceparent", () => {
  it("parses the W3C example, sampled or not", () => {
    expect(parseTraceparent(EXAMPLE)).toEqual({ traceId: TRACE, spanId: SPAN, flags: 1 });
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)).toMatchObject({ flags: 0 });
    // Flag bits other than "sampled" are kept, not a reason to reject.
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-03`)).toMatchObject({ flags: 3 });
    // Whitespace around a header value is not part of it.
    expect(parseTraceparent(` ${EXAMPLE}\t`)?.traceId).toBe(TRACE);
  });

  it("reads a later version by its version-00 fields, and refuses version ff", () => {
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-01`)?.traceId).toBe(TRACE);
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-01-what-the-future-adds`)?.spanId).toBe(SPAN);
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-01x`)).toBeUndefined();
    expect(parseTraceparent(`ff-${TRACE}-${SPAN}-01`)).toBeUndefined();
  });

  it("refuses what the recommendation calls invalid", () => {
    for (const bad of [
      undefined,
      "",
      `00-${"0".repeat(32)}-${SPAN}-01`, // all-zero trace id
      `00-${TRACE}-${"0".repeat(16)}-01`, // all-zero parent id
      EXAMPLE.toUpperCase(), // hex is lowercase only
      `00-${TRACE.toUpperCase()}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-01-extra`, // version 00 is exactly 55 characters
      `00-${TRACE}-${SPAN}-1`,
      `00-${TRACE.slice(1)}-${SPAN}-01`,
      `00-${TRACE}-${SPAN.slice(1)}-01`,
      `00_${TRACE}_${SPAN}_01`,
      `0-${TRACE}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-0g`,
      `00-${TRACE.slice(0, 31)}x-${SPAN}-01`,
      `${EXAMPLE},${EXAMPLE}`, // two headers folded into one
    ]) {
      expect(parseTraceparent(bad), String(bad)).toBeUndefined();
    }
  });

  it("formats what it parses, and refuses ids it would not parse", () => {
    expect(formatTraceparent({ traceId: TRACE, spanId: SPAN, sampled: true })).toBe(EXAMPLE);
    expect(formatTraceparent({ traceId: TRACE, spanId: SPAN })).toBe(`00-${TRACE}-${SPAN}-00`);
    expect(formatTraceparent({ traceId: TRACE, spanId: SPAN, flags: 0x0b })).toBe(`00-${TRACE}-${SPAN}-0b`);
    expect(() => formatTraceparent({ traceId: "0".repeat(32), spanId: SPAN })).toThrow(RangeError);
    expect(() => formatTraceparent({ traceId: TRACE, spanId: "0".repeat(16) })).toThrow(RangeError);
    expect(() => formatTraceparent({ traceId: TRACE.toUpperCase(), spanId: SPAN })).toThrow(RangeError);
    expect(() => formatTraceparent({ traceId: TRACE, spanId: SPAN, flags: 256 })).toThrow(RangeError);

    const hex = (n: number) =>
      fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`)).filter((s) => /[^0]/.test(s));
    fc.assert(
      fc.property(hex(32), hex(16), fc.integer({ min: 0, max: 255 }), (traceId, spanId, flags) => {
        const parsed = parseTraceparent(formatTraceparent({ traceId, spanId, flags }));
        expect(parsed).toEqual({ traceId, spanId, flags });
      }),
    );
  });
});

describe("trace links", () => {
  it("puts the trace id (and span id) into the template, wherever it appears", () => {
    expect(traceLink("http://jaeger:16686/trace/{traceId}", { traceId: TRACE })).toBe(
      `http://jaeger:16686/trace/${TRACE}`,
    );
    expect(
      traceLink("http://j/trace/{traceId}?uiFind={spanId}&t={traceId}", { traceId: TRACE, spanId: SPAN }),
    ).toBe(`http://j/trace/${TRACE}?uiFind=${SPAN}&t=${TRACE}`);
  });

  it("takes http(s) templates with {traceId}, and refuses others in one line with a hint", () => {
    const grafana =
      'https://grafana.example/explore?left={"datasource":"tempo","queries":[{"query":"{traceId}"}]}';
    expect(checkTraceUrlTemplate(grafana)).toBe(grafana);
    for (const [bad, why] of [
      ["http://jaeger:16686/trace/", /has no \{traceId\}/],
      ["javascript:alert('{traceId}')", /is not http or https/],
      ["jaeger/trace/{traceId}", /is not a URL/],
    ] as const) {
      let err: unknown;
      try {
        checkTraceUrlTemplate(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(UsageError);
      expect((err as UsageError).oneLine(), bad).toMatch(why);
      expect((err as UsageError).oneLine(), bad).toMatch(/; give a URL with \{traceId\}/);
    }
  });
});
