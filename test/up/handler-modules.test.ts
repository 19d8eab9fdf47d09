import { describe, expect, it } from "vitest";
import { connectTo, publishOrders, readStored, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { tempModule, text } from "../helpers/handler-worker.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";
import { startUp } from "./up-process.js";

/** One sample of a Prometheus text exposition, e.g. `orderflow_handler_timeouts_total{stage="processor"}`. */
function sample(metrics: string, series: string): number | undefined {
  const line = metrics.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

interface WorkerSnapshot {
  stage: string;
  handler: string;
  handlerTimeouts: number;
  handlersRunning: number;
}

describe("orderflow up with handler modules", () => {
  it("runs a .ts processor and a .js dispatcher; /metrics and the dashboard show their calls, timeouts and what runs", async () => {
    const processor = tempModule(
      "price.ts",
      `interface Ctx { signal: AbortSignal; setHeader(name: string, value: string): void }
export default async function (order: { orderNo: string }, ctx: Ctx): Promise<string> {
  if (order.orderNo === "hang") await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
  ctx.setHeader("Orderflow-Priced-By", "ts");
  return \`\${order.orderNo},processed\`;
}
`,
    );
    const dispatcher = tempModule(
      "ship.js",
      "export default async (order) => order.orderNo + ',completed,shipped';\n",
    );
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const n = 20;
    const up = startUp(
      [
        "-s",
        server.url,
        "--port",
        "0",
        "--workers",
        "processor,dispatcher",
        "--processor-handler",
        processor,
        "--dispatcher-handler",
        dispatcher,
        "--handler-timeout",
        "4s",
        "--max-attempts",
        "1",
      ],
      { ORDERFLOW_LOG_LEVEL: "info" },
    );
    const dashboard = await up.dashboard();
    // Each stage's start line names the module it runs.
    const started = () =>
      up
        .stderr()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as { msg?: string; handler?: string })
        .filter((l) => l.msg?.endsWith(" started"));
    await waitFor("both stages' start lines", () => started().length === 2);
    expect(started().map((l) => [l.msg, l.handler])).toEqual(
      expect.arrayContaining([
        ["processor started", processor],
        ["dispatcher started", dispatcher],
      ]),
    );
    const metrics = async () => (await fetch(new URL("metrics", dashboard))).text();
    const workers = async () =>
      ((await (await fetch(new URL("api/snapshot", dashboard))).json()) as { workers: WorkerSnapshot[] })
        .workers;

    await nc.request("ORDERS.received", "hang");
    await publishOrders(nc, n);
    await waitFor("the hung call in progress", async () => {
      const m = await metrics();
      return sample(m, 'orderflow_handlers_in_progress{stage="processor"}') === 1;
    });
    await waitFor("every order but the hung one completed", async () => {
      return (await subjectCounts(jsm))["ORDERS.completed"] === n;
    });
    await waitFor("the hung one dead-lettered", async () => {
      return (await subjectCounts(jsm))["ORDERS.failed"] === 1;
    });

    const completed = (await readStored(nc, "ORDERS.completed")).map((m) => text(m.data)).sort();
    expect(completed).toEqual(Array.from({ length: n }, (_, i) => `${i + 1},completed,shipped`).sort());
    const processed = await readStored(nc, "ORDERS.processed");
    expect(processed).toHaveLength(n);
    for (const m of processed) expect(m.headers.get("Orderflow-Priced-By")).toBe("ts");
    const [dead] = await readStored(nc, "ORDERS.failed");
    expect(dead?.headers.get("Orderflow-Reason")).toBe("timeout");

    const m = await waitFor("the calls counted", async () => {
      const text = await metrics();
      return sample(text, 'orderflow_handler_duration_seconds_count{stage="dispatcher"}') === n
        ? text
        : undefined;
    });
    expect(sample(m, 'orderflow_handler_duration_seconds_count{stage="processor"}')).toBe(n + 1);
    expect(sample(m, 'orderflow_handler_timeouts_total{stage="processor"}')).toBe(1);
    expect(sample(m, 'orderflow_handler_timeouts_total{stage="dispatcher"}')).toBe(0);
    expect(sample(m, 'orderflow_handlers_in_progress{stage="processor"}')).toBe(0);

    const byStage = Object.fromEntries((await workers()).map((w) => [w.stage, w]));
    expect(byStage.processor).toMatchObject({ handler: "price.ts", handlerTimeouts: 1, handlersRunning: 0 });
    expect(byStage.dispatcher).toMatchObject({ handler: "ship.js", handlerTimeouts: 0 });
    expect(await up.interrupt()).toBe(0);
  });

  it("without handler modules the dashboard says the stages run the seed built-in", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    await withTopology(nc);
    const up = startUp(["-s", server.url, "--port", "0", "--workers", "processor,dispatcher"]);
    const dashboard = await up.dashboard();
    const { workers } = (await (await fetch(new URL("api/snapshot", dashboard))).json()) as {
      workers: WorkerSnapshot[];
    };
    expect(workers.map((w) => [w.stage, w.handler])).toEqual([
      ["processor", "seed built-in"],
      ["dispatcher", "seed built-in"],
    ]);
    const m = await (await fetch(new URL("metrics", dashboard))).text();
    expect(sample(m, 'orderflow_handler_timeouts_total{stage="processor"}')).toBe(0);
    expect(await up.interrupt()).toBe(0);
  });
});
