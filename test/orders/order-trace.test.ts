import { jetstream } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import { describe, expect, it, onTestFinished } from "vitest";
import { formatTraceparent } from "../../src/common/trace-context.js";
import { OrderIndexer } from "../../src/orders/order-indexer.js";
import { lookupOrder } from "../../src/orders/order-lookup.js";
import { DeadLetterHeader } from "../../src/stages/dead-letter.js";
import { DEFAULT_TOPOLOGY } from "../../src/topology/spec.js";
import { runCli } from "../helpers/cli.js";
import { connectTo, tempIndexDir, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";

// Hand-made trace contexts, as a traced publisher writes them (the W3C example ids and neighbours).
const T1 = "4bf92f3577b34da6a3ce929d0e0e4736";
const T2 = "0af7651916cd43dd8448eb211c80319c";
const T3 = "5b8aa5a2d2c872e8321cf37308d69df2";
const T4 = "ab42124a3c573678d4d8b21ba52df3bf";
const S = [
  "00f067aa0ba902b7",
  "b7ad6b7169203331",
  "051581bf3cb55c13",
  "53995c3f42cd8ad8",
  "d75597dee50b0cac",
];
const TEMPLATE = "http://jaeger.test:16686/trace/{traceId}?uiFind={spanId}";
const t = { ...DEFAULT_TOPOLOGY };

/** A stored message with a traceparent header under `name` (any case: readers ignore it). */
async function publish(
  nc: NatsConnection,
  subject: string,
  body: string,
  trace?: { traceId: string; spanId: string; name?: string; raw?: string },
  extra: Record<string, string> = {},
): Promise<number> {
  const h = headers();
  for (const [k, v] of Object.entries(extra)) h.set(k, v);
  if (trace) {
    h.set(trace.name ?? "traceparent", trace.raw ?? formatTraceparent({ ...trace, sampled: true }));
  }
  const hasHeaders = trace !== undefined || Object.keys(extra).length > 0;
  return (await jetstream(nc).publish(subject, body, hasHeaders ? { headers: h } : {})).seq;
}

/**
 * 7001: one trace through all stages (the processed message's header spelled `TraceParent`).
 * 7002: a Go worker in the middle dropped the header; the dispatcher began trace T3.
 * 7003: published with tracing off: no header at all.
 * 7004: an invalid traceparent (all-zero trace id) on received, then a traced dead letter.
 */
async function storeOrders(nc: NatsConnection) {
  const seq = {
    r1: await publish(nc, "ORDERS.received", "7001", { traceId: T1, spanId: S[0] as string }),
    p1: await publish(nc, "ORDERS.processed", "7001,processed", {
      traceId: T1,
      spanId: S[1] as string,
      name: "TraceParent",
    }),
    c1: await publish(nc, "ORDERS.completed", "7001,completed", { traceId: T1, spanId: S[2] as string }),
    r2: await publish(nc, "ORDERS.received", "7002", { traceId: T2, spanId: S[3] as string }),
    p2: await publish(nc, "ORDERS.processed", "7002,processed"),
    c2: await publish(nc, "ORDERS.completed", "7002,completed", { traceId: T3, spanId: S[4] as string }),
    r3: await publish(nc, "ORDERS.received", "7003"),
    r4: await publish(nc, "ORDERS.received", "7004", {
      traceId: T4,
      spanId: S[0] as string,
      raw: `00-${"0".repeat(32)}-${S[0]}-01`,
    }),
    f4: await publish(
      nc,
      "ORDERS.failed",
      "7004",
      { traceId: T4, spanId: S[1] as string },
      {
        [DeadLetterHeader.Stage]: "processor",
        [DeadLetterHeader.Reason]: "max-attempts",
        [DeadLetterHeader.Error]: "pricing timed out",
        [DeadLetterHeader.OrderNo]: "7004",
      },
    ),
  };
  return seq;
}

const STAMP = "\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3}";

describe("orderflow order shows the trace of each stored message", () => {
  it("through the order index: trace ids per event, links with --trace-url or ORDERFLOW_TRACE_URL, traceId/traceUrl in --json", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    const seq = await storeOrders(nc);
    const indexer = new OrderIndexer(await connectTo(server, "indexer"), t, { indexDir: tempIndexDir() });
    await indexer.start();
    onTestFinished(() => indexer.stop());
    await indexer.ready();
    // --scan-last 0: every answer below comes from the index and the messages it points at.
    const order = (args: string[], env?: NodeJS.ProcessEnv) =>
      runCli(["order", "-s", server.url, "--scan-last", "0", ...args], { env });

    const plain = await order(["7001"]);
    expect(plain.code).toBe(0);
    expect(plain.stderr).toBe("");
    let lines = plain.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^order 7001: completed \(3 events in /);
    expect(lines[1]).toMatch(new RegExp(`^  ${STAMP}  received +seq ${seq.r1} +trace ${T1}$`));
    expect(lines[2]).toMatch(new RegExp(` processed +seq ${seq.p1} +\\+\\S+ +trace ${T1}$`));
    expect(lines[3]).toMatch(new RegExp(` completed +seq ${seq.c1} +\\+\\S+ +trace ${T1}$`));
    expect(lines[4]).toMatch(/^searched ORDERS: order index through seq /);
    expect(lines).toHaveLength(5);

    // One link per trace, from its first message's span.
    const linked = await order(["7001", "--trace-url", TEMPLATE]);
    lines = linked.stdout.trim().split("\n");
    expect(lines[4]).toBe(`trace ${T1}: http://jaeger.test:16686/trace/${T1}?uiFind=${S[0]}`);
    expect(lines[5]).toMatch(/^searched ORDERS/);

    // A Go worker in the middle: no trace on its message, a new one after it; the columns stay aligned.
    const restarted = await order(["7002"], {
      ORDERFLOW_TRACE_URL: "https://tempo.test/explore?trace={traceId}",
    });
    expect(restarted.code).toBe(0);
    lines = restarted.stdout.trim().split("\n");
    expect(lines[1]).toMatch(new RegExp(` received +seq ${seq.r2} +trace ${T2}$`));
    expect(lines[2]).toMatch(new RegExp(` processed +seq ${seq.p2} +\\+\\S+$`));
    expect(lines[3]).toMatch(new RegExp(` completed +seq ${seq.c2} +\\+\\S+ +trace ${T3}$`));
    expect(lines[1]?.indexOf("trace")).toBe(lines[3]?.indexOf("trace"));
    expect(lines.slice(4, 6)).toEqual([
      `trace ${T2}: https://tempo.test/explore?trace=${T2}`,
      `trace ${T3}: https://tempo.test/explore?trace=${T3}`,
    ]);

    // Without headers, the screen is what it always was (order.test.ts checks the same layout).
    const untraced = await order(["7003", "--trace-url", TEMPLATE]);
    lines = untraced.stdout.trim().split("\n");
    expect(lines[1]).toMatch(new RegExp(`^  ${STAMP}  received  seq ${seq.r3}$`));
    expect(untraced.stdout).not.toContain("trace");

    // An invalid traceparent is no trace; the dead letter's trace comes before its reason.
    const failed = await order(["7004"]);
    lines = failed.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^order 7004: failed/);
    expect(lines[1]).toMatch(new RegExp(` received +seq ${seq.r4}$`));
    expect(lines[2]).toMatch(
      new RegExp(
        ` failed +seq ${seq.f4} +\\+\\S+ +trace ${T4}  max-attempts: pricing timed out \\(processor\\); payload "7004"$`,
      ),
    );

    const json = JSON.parse((await order(["7001", "--json"])).stdout);
    expect(
      json.entries.map((e: Record<string, unknown>) => [e.seq, e.traceId, e.spanId, e.traceUrl]),
    ).toEqual([
      [seq.r1, T1, S[0], undefined],
      [seq.p1, T1, S[1], undefined],
      [seq.c1, T1, S[2], undefined],
    ]);
    const jsonLinked = JSON.parse((await order(["7002", "--json", "--trace-url", TEMPLATE])).stdout);
    expect(jsonLinked.entries.map((e: Record<string, unknown>) => [e.seq, e.traceId, e.traceUrl])).toEqual([
      [seq.r2, T2, `http://jaeger.test:16686/trace/${T2}?uiFind=${S[3]}`],
      [seq.p2, undefined, undefined],
      [seq.c2, T3, `http://jaeger.test:16686/trace/${T3}?uiFind=${S[4]}`],
    ]);
    const jsonUntraced = JSON.parse((await order(["7003", "--json", "--trace-url", TEMPLATE])).stdout);
    expect(Object.keys(jsonUntraced.entries[0]).sort()).toEqual(
      ["payload", "seq", "sincePreviousMs", "stage", "subject", "time"].sort(),
    );

    // A template the lookup cannot use is one line and a failure, from the flag or the variable.
    for (const [args, env] of [
      [["7001", "--trace-url", "http://jaeger.test/trace/"], undefined],
      [["7001"], { ORDERFLOW_TRACE_URL: "javascript:alert('{traceId}')" }],
    ] as const) {
      const bad = await order([...args], env);
      expect(bad.code).not.toBe(0);
      expect(bad.stdout).toBe("");
      expect(bad.stderr).toMatch(
        /^orderflow: the trace URL ".*" (has no \{traceId\}|is not http or https); give a URL with \{traceId\} where the trace id goes, e\.g\. http:\/\/localhost:16686\/trace\/\{traceId\} \(Jaeger\)\n$/,
      );
    }
  });

  it("through a stream scan (no order index): the same trace ids and links", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    const seq = await storeOrders(nc);

    const scanned = await lookupOrder(nc, t, "7002");
    expect(scanned.coverage.indexProblem).toMatch(/no order index is running/);
    expect(scanned.coverage.scanned?.messages).toBe(seq.f4);
    expect(scanned.entries.map((e) => [e.seq, e.traceId, e.spanId])).toEqual([
      [seq.r2, T2, S[3]],
      [seq.p2, undefined, undefined],
      [seq.c2, T3, S[4]],
    ]);

    const text = await runCli(["order", "-s", server.url, "7001", "--trace-url", TEMPLATE]);
    expect(text.code).toBe(0);
    const lines = text.stdout.trim().split("\n");
    expect(lines.slice(1, 4).every((l) => l.endsWith(`trace ${T1}`))).toBe(true);
    expect(lines[4]).toBe(`trace ${T1}: http://jaeger.test:16686/trace/${T1}?uiFind=${S[0]}`);
    expect(lines[5]).toMatch(/^searched ORDERS: scan of seq 1\.\.\d+ /);

    const json = JSON.parse(
      (await runCli(["order", "-s", server.url, "7004", "--json", "--trace-url", TEMPLATE])).stdout,
    );
    expect(json.entries.map((e: Record<string, unknown>) => [e.stage, e.traceId, e.traceUrl])).toEqual([
      ["received", undefined, undefined],
      ["failed", T4, `http://jaeger.test:16686/trace/${T4}?uiFind=${S[1]}`],
    ]);
    // The dead letter's headers, as before, include the traceparent it was stored with.
    expect(json.entries[1].headers.traceparent).toBe(`00-${T4}-${S[1]}-01`);
  });
});
