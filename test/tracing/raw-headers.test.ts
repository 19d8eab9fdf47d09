import { headers, Match, type Msg, MsgHdrsImpl } from "@nats-io/nats-core";
import { MsgImpl } from "@nats-io/nats-core/internal";
import { describe, expect, it } from "vitest";
import { rawHeader, setHeader } from "../../src/common/raw-headers.js";
import { parseTraceparent, plainTraceparentFlags } from "../../src/common/trace-context.js";
import { connectTo } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";

/** Messages as a real server delivers them, each published with the given header lines. */
async function delivered(blocks: Array<Array<[string, string]>>): Promise<Msg[]> {
  const server = await startServer();
  const nc = await connectTo(server);
  const got: Msg[] = [];
  const sub = nc.subscribe("raw.headers", {
    max: blocks.length,
    callback: (_err, m) => {
      got.push(m);
    },
  });
  for (const lines of blocks) {
    if (lines.length === 0) {
      nc.publish("raw.headers", "x");
      continue;
    }
    const h = headers();
    for (const [k, v] of lines) h.append(k, v);
    nc.publish("raw.headers", "x", { headers: h });
  }
  await sub.closed;
  return got;
}

const TP = `00-${"4bf92f3577b34da6a3ce929d0e0e4736"}-${"00f067aa0ba902b7"}-01`;

describe("reading one header from the raw block", () => {
  it("gives what the decoded headers give, exact name first, any case next, without decoding the rest", async () => {
    const cases: Array<Array<[string, string]>> = [
      [],
      [["Nats-Msg-Id", "1:received"]],
      [
        ["Nats-Msg-Id", "2:received"],
        ["traceparent", TP],
      ],
      [["Traceparent", TP]],
      [
        ["TRACEPARENT", "first-any-case"],
        ["traceparent", "exact"],
      ],
      [
        ["traceparentx", "longer name"],
        ["tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"],
      ],
      [["traceparent", "  padded  "]],
      [["traceparent", "a:b:c"]],
    ];
    const msgs = await delivered(cases);
    expect(msgs).toHaveLength(cases.length);
    for (const [i, m] of msgs.entries()) {
      for (const name of ["traceparent", "tracestate", "nats-msg-id"]) {
        const raw = rawHeader(m, name);
        // Read raw before anything decodes: the client kept the block undecoded.
        expect((m as MsgImpl)._headers, `case ${i}`).toBeUndefined();
        const decoded = m.headers;
        const want = decoded
          ? decoded.get(name) || decoded.get(name, Match.IgnoreCase) || undefined
          : undefined;
        expect(raw, `case ${i}, ${name}`).toBe(want);
        (m as MsgImpl)._headers = undefined;
      }
    }
    expect(rawHeader(msgs[4] as Msg, "traceparent")).toBe("exact");
    expect(rawHeader(msgs[3] as Msg, "traceparent")).toBe(TP);
    expect(rawHeader(msgs[6] as Msg, "traceparent")).toBe("padded");
  });

  it("reads a message of another shape through its decoded headers", () => {
    const h = headers();
    h.set("Traceparent", TP);
    const m = { headers: h } as unknown as Msg;
    expect(m).not.toBeInstanceOf(MsgImpl);
    expect(rawHeader(m, "traceparent")).toBe(TP);
    expect(rawHeader({ headers: undefined } as unknown as Msg, "traceparent")).toBeUndefined();
  });
});

describe("setting a header without nats-core's per-call checks", () => {
  it("leaves the bytes set() would, and sends an unsafe value through set()'s own check", () => {
    const sequences: Array<Array<[string, string]>> = [
      [["traceparent", TP]],
      [
        ["traceparent", TP],
        ["tracestate", "a=1"],
      ],
      [
        ["traceparent", "old"],
        ["tracestate", "a=1"],
        ["traceparent", TP],
      ],
    ];
    for (const seq of sequences) {
      const viaSet = MsgHdrsImpl.fromRecord({ "Nats-Msg-Id": ["1:processed"] }) as MsgHdrsImpl;
      const fast = MsgHdrsImpl.fromRecord({ "Nats-Msg-Id": ["1:processed"] }) as MsgHdrsImpl;
      for (const [k, v] of seq) {
        viaSet.set(k, v);
        setHeader(fast, k as "traceparent" | "tracestate", v);
      }
      expect(new TextDecoder().decode(fast.encode())).toBe(new TextDecoder().decode(viaSet.encode()));
    }
    const h = headers();
    expect(() => setHeader(h, "tracestate", "a=1\r\nInjected: yes")).toThrow(/cannot contain/);
    setHeader(h, "tracestate", " a=1 ");
    expect(h.get("tracestate")).toBe("a=1");
  });
});

describe("the plain traceparent check", () => {
  it("agrees with the full parse on every value it accepts, and leaves the rest to it", () => {
    const hex = (n: number, digits: string) =>
      Array.from({ length: n }, (_, i) => digits[(i * 7 + n) % digits.length]).join("");
    const values = [
      TP,
      TP.replace(/-01$/, "-00"),
      TP.replace(/-01$/, "-ff"),
      TP.replace(/-01$/, "-0a"),
      `00-${"0".repeat(32)}-00f067aa0ba902b7-01`,
      `00-4bf92f3577b34da6a3ce929d0e0e4736-${"0".repeat(16)}-01`,
      TP.toUpperCase(),
      TP.replace(/^00/, "01"),
      `${TP}-extra`,
      TP.slice(0, 54),
      TP.replace("-00f0", "_00f0"),
      `00-${hex(32, "0123456789abcdef")}-${hex(16, "fedcba9876543210")}-03`,
      `00-${hex(32, "g123456789abcdef")}-${hex(16, "fedcba9876543210")}-01`,
      "",
    ];
    for (const v of values) {
      const flags = plainTraceparentFlags(v);
      const parsed = parseTraceparent(v);
      if (flags >= 0) expect(parsed?.flags, v).toBe(flags);
      else if (v.startsWith("00") && v.length === 55) expect(parsed, v).toBeUndefined();
    }
    expect(plainTraceparentFlags(TP)).toBe(1);
    expect(plainTraceparentFlags(TP.replace(/-01$/, "-00"))).toBe(0);
    expect(plainTraceparentFlags(TP.toUpperCase())).toBe(-1);
    expect(plainTraceparentFlags(`00-${"0".repeat(32)}-00f067aa0ba902b7-01`)).toBe(-1);
  });
});
