import { describe, expect, it } from "vitest";
import { durationMs, parseDurationFlag } from "../../src/common/duration.js";
import { UsageError } from "../../src/common/errors.js";
import { parseTemplate, rfc3339 } from "../../src/common/templates.js";

const at = (count: number, nowMs = Date.UTC(2024, 0, 2, 3, 4, 5, 678) + 0.25) => ({ count, nowMs });

describe("body templates", () => {
  it("renders the seed's {{Count}} template per message", () => {
    const t = parseTemplate("10000{{Count}}");
    expect(t.dynamic).toBe(true);
    expect([1, 2, 5].map((n) => t.render(at(n)))).toEqual(["100001", "100002", "100005"]);
  });

  it("keeps text without actions as it is", () => {
    const t = parseTemplate("plain } { text");
    expect(t.dynamic).toBe(false);
    expect(t.render(at(1))).toBe("plain } { text");
  });

  it("gives Unix, UnixNano and TimeStamp from one instant", () => {
    const t = parseTemplate("{{Unix}} {{UnixNano}}");
    const [unix, nano] = t.render(at(1)).split(" ");
    expect(unix).toBe("1704164645");
    expect(nano).toBe("1704164645678250000");
    expect(rfc3339(Date.UTC(2024, 0, 2, 3, 4, 5))).toMatch(/^2024-01-0\dT\d\d:\d\d:05(Z|[+-]\d\d:\d\d)$/);
  });

  it("accepts the Go field form and spaces: {{ .Count }}", () => {
    expect(parseTemplate("{{ .Count }}-{{.Count}}").render(at(7))).toBe("7-7");
  });

  it("gives a new unique id per message", () => {
    const t = parseTemplate("{{ID}}");
    const ids = new Set(Array.from({ length: 100 }, (_, i) => t.render(at(i + 1))));
    expect(ids.size).toBe(100);
  });

  it("gives random letters between min and max long", () => {
    const t = parseTemplate("{{Random 2 4}}");
    for (let i = 0; i < 50; i++) expect(t.render(at(1))).toMatch(/^[A-Za-z]{2,4}$/);
    expect(parseTemplate("{{Random 0 0}}").render(at(1))).toBe("");
  });

  it.each([
    ["{{Nope}}", /unknown function \{\{Nope\}\}/],
    ["{{Count 3}}", /takes no arguments/],
    ["{{Random 1}}", /needs two whole numbers/],
    ["{{Random a b}}", /needs two whole numbers/],
    ["{{Random 5 1}}", /needs two whole numbers/],
    ["x{{Count", /unclosed "\{\{" at character 2/],
  ])("refuses %s with a usage error", (src, message) => {
    expect(() => parseTemplate(src, "body")).toThrow(UsageError);
    expect(() => parseTemplate(src, "body")).toThrow(message);
  });
});

describe("durations", () => {
  it.each([
    ["1s", 1000],
    ["250ms", 250],
    ["1.5s", 1500],
    ["2m0s", 120_000],
    ["1m30s", 90_000],
    ["1h", 3_600_000],
    ["100", 100],
  ])("reads %s as %d ms", (text, ms) => {
    expect(durationMs(text)).toBe(ms);
  });

  it("refuses text that is not a duration, and negative ones, naming the flag", () => {
    expect(durationMs("soon")).toBeUndefined();
    expect(durationMs("1x")).toBeUndefined();
    expect(() => parseDurationFlag("sleep", "soon")).toThrow('--sleep: "soon" is not a duration');
    expect(() => parseDurationFlag("sleep", "-1s")).toThrow("--sleep must be at least 0 ms");
  });
});
