import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { nanos } from "@nats-io/nats-core";
import { describe, expect, it, onTestFinished } from "vitest";
import { runCli } from "../helpers/cli.js";
import {
  connectTo,
  publishOrders,
  readStored,
  subjectCounts,
  waitSettled,
  withTopology,
} from "../helpers/fixtures.js";
import { logLines, startProcessor, tempModule, text } from "../helpers/handler-worker.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

const EXAMPLES = fileURLToPath(new URL("../../examples/", import.meta.url));
describe("orderflow worker --handler", () => {
  it("runs a TypeScript module (examples/pricing.ts) that calls an HTTP service with the idempotency key", async () => {
    const requests: Array<{ url: string; key: string | undefined }> = [];
    const http = createServer((req: IncomingMessage, res) => {
      requests.push({ url: req.url ?? "", key: req.headers["idempotency-key"] as string | undefined });
      const orderNo = decodeURIComponent((req.url ?? "").replace("/price/", ""));
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ price: Number(orderNo) * 10 }));
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    onTestFinished(() => new Promise<void>((r) => http.close(() => r())));
    const port = (http.address() as AddressInfo).port;

    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    await publishOrders(nc, 20);
    const worker = await startProcessor(server.url, ["--handler", join(EXAMPLES, "pricing.ts")], {
      PRICING_URL: `http://127.0.0.1:${port}`,
    });
    await waitFor("20 processed", async () => (await subjectCounts(jsm))["ORDERS.processed"] === 20);
    const stored = await readStored(nc, "ORDERS.processed");
    expect(stored.map((m) => text(m.data)).sort()).toEqual(
      Array.from({ length: 20 }, (_, i) => `${i + 1},processed`).sort(),
    );
    for (const m of stored) {
      const orderNo = text(m.data).split(",")[0];
      expect(m.headers.get("Nats-Msg-Id")).toBe(`${orderNo}:processed`);
      expect(m.headers.get("Orderflow-Price")).toBe(String(Number(orderNo) * 10));
    }
    expect(requests).toHaveLength(20);
    for (const r of requests) expect(r.key).toBe(`${r.url.replace("/price/", "")}:processed`);
    expect(await worker.interrupt()).toBe(0);
  });

  it("runs a JavaScript module (examples/validate.js) whose InvalidOrderError dead-letters at once", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    await publishOrders(nc, 5);
    await nc.request("ORDERS.received", "x-7");
    const worker = await startProcessor(server.url, ["--handler", join(EXAMPLES, "validate.js")]);
    const started = logLines(worker).find((l) => l.msg === "processor started");
    expect(started?.handler).toBe(join(EXAMPLES, "validate.js"));
    await waitFor("all settled", async () => {
      const c = await subjectCounts(jsm);
      return c["ORDERS.processed"] === 5 && c["ORDERS.failed"] === 1;
    });
    const [dead] = await readStored(nc, "ORDERS.failed");
    expect(dead?.headers.get("Orderflow-Reason")).toBe("not-numeric");
    expect(text(dead?.data ?? new Uint8Array())).toBe("x-7");
    await waitSettled(jsm, "NEW");
    expect(await worker.interrupt()).toBe(0);
  });

  it.each([
    ["missing", undefined, /no such file/],
    [
      "syntax.mjs",
      "export default async function (order) {\n  return order;\n}\n}\n",
      /syntax\.mjs:4: Unexpected token '}'/,
    ],
    ["nothing.mjs", "export const answer = 42;\n", /exports no handler function/],
    ["broken.ts", "export default 1;\n\nconst x: number = ;\n", /broken\.ts:3:18: ERROR: Unexpected ";"/],
    ["throws.mjs", "throw new Error('no PRICING_URL');\n", /failed to load: no PRICING_URL/],
  ])(
    "a broken module (%s) is one line naming the file, exit 1, before connecting",
    async (name, source, problem) => {
      const file =
        source === undefined ? join(tmpdir(), "orderflow-no-such-handler.mjs") : tempModule(name, source);
      // Nothing listens on port 1: getting as far as connecting would be a different error.
      const r = await runCli(["worker", "processor", "--handler", file, "-s", "nats://127.0.0.1:1"]);
      expect(r.code).toBe(1);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(file);
      expect(lines[0]).toMatch(problem);
      expect(lines[0]).not.toMatch(/cannot connect/);
    },
  );

  it.each([
    ["nothing.mjs", "export const answer = 42;\n", /exports no handler function/],
    [
      "badsyntax.ts",
      "export default async function (o: unknown) {\n  return o;\n}\n}\n",
      /badsyntax\.ts:4:0: ERROR: Unexpected "}"/,
    ],
  ])(
    "orderflow up --processor-handler with a broken module (%s) stops before starting or reaching NATS",
    async (name, source, problem) => {
      const file = tempModule(name, source);
      const r = await runCli([
        "up",
        "--processor-handler",
        file,
        "--managed-server",
        "never",
        "-s",
        "nats://127.0.0.1:1",
      ]);
      expect(r.code).toBe(1);
      expect(r.stdout).not.toContain("NATS:");
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(file);
      expect(lines[0]).toMatch(problem);
    },
  );

  it("a hung handler is aborted at --handler-timeout, tried --max-attempts times and dead-lettered as timeout", async () => {
    const handler = tempModule(
      "hang.mjs",
      `export default async function (order, ctx) {
  ctx.logger.warn({ invoked: order.orderNo, attempt: ctx.attempt }, "invoked");
  if (order.orderNo !== "hang") return order.orderNo + ",processed";
  await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
  ctx.logger.warn({ aborted: order.orderNo }, "aborted");
  return "late,processed";
}
`,
    );
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    await publishOrders(nc, 10);
    await nc.request("ORDERS.received", "hang");
    const worker = await startProcessor(server.url, [
      "--handler",
      handler,
      "--handler-timeout",
      "1s",
      "--max-attempts",
      "2",
    ]);
    await waitFor("all settled", async () => {
      const c = await subjectCounts(jsm);
      return c["ORDERS.processed"] === 10 && c["ORDERS.failed"] === 1;
    });
    const [dead] = await readStored(nc, "ORDERS.failed");
    expect(dead?.headers.get("Orderflow-Reason")).toBe("timeout");
    const processed = (await readStored(nc, "ORDERS.processed")).map((m) => text(m.data));
    expect(processed).not.toContain("late,processed");
    await waitFor(
      "the second abort logged",
      () => logLines(worker).filter((l) => l.aborted === "hang").length === 2,
    );
    const invoked = logLines(worker).filter((l) => l.invoked === "hang");
    expect(invoked.map((l) => l.attempt)).toEqual([1, 2]);
    expect(await worker.interrupt()).toBe(0);
    expect((await subjectCounts(jsm))["ORDERS.processed"]).toBe(10);
  });

  it("a handler slower than the ack wait is kept alive with +WPI: invoked once, never redelivered", async () => {
    const handler = tempModule(
      "slow.mjs",
      `export default async function (order, ctx) {
  ctx.logger.warn({ invoked: order.orderNo, deliveryCount: ctx.deliveryCount }, "invoked");
  await new Promise((resolve) => setTimeout(resolve, 5000));
  return order.orderNo + ",processed";
}
`,
    );
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    await jsm.consumers.update("ORDERS", "NEW", { ack_wait: nanos(2_000) });
    await nc.request("ORDERS.received", "slow");
    const worker = await startProcessor(server.url, ["--handler", handler]);
    await waitFor("processed", async () => (await subjectCounts(jsm))["ORDERS.processed"] === 1, {
      timeoutMs: 20_000,
    });
    await waitSettled(jsm, "NEW");
    expect((await jsm.consumers.info("ORDERS", "NEW")).num_redelivered).toBe(0);
    expect(await worker.interrupt()).toBe(0);
    expect(logLines(worker).filter((l) => l.invoked === "slow")).toHaveLength(1);
  });

  it("--concurrency 4: at most 4 handler calls at once, and 4 are reached", async () => {
    const handler = tempModule(
      "count.mjs",
      `let running = 0;
export default async function (order, ctx) {
  running++;
  ctx.logger.warn({ running }, "handler running");
  await new Promise((resolve) => setTimeout(resolve, 100));
  running--;
  return order.orderNo + ",processed";
}
`,
    );
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    await publishOrders(nc, 40);
    const worker = await startProcessor(server.url, ["--handler", handler, "--concurrency", "4"]);
    await waitFor("40 processed", async () => (await subjectCounts(jsm))["ORDERS.processed"] === 40);
    const running = logLines(worker)
      .map((l) => l.running)
      .filter((n): n is number => typeof n === "number");
    expect(running).toHaveLength(40);
    expect(Math.max(...running)).toBe(4);
    expect(await worker.interrupt()).toBe(0);
  });

  it("setHeader refuses Nats-Msg-Id (any case) with an error that says why; the order is dead-lettered with it", async () => {
    const handler = tempModule(
      "msgid.mjs",
      `export default async function (order, ctx) {
  ctx.setHeader("nats-msg-id", "mine");
  return order.orderNo + ",processed";
}
`,
    );
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    await nc.request("ORDERS.received", "7");
    const worker = await startProcessor(server.url, ["--handler", handler, "--max-attempts", "1"]);
    await waitFor("dead-lettered", async () => (await subjectCounts(jsm))["ORDERS.failed"] === 1);
    const [dead] = await readStored(nc, "ORDERS.failed");
    expect(dead?.headers.get("Orderflow-Reason")).toBe("max-attempts");
    expect(dead?.headers.get("Orderflow-Error")).toBe(
      "Nats-Msg-Id is set by the worker (it is ctx.idempotencyKey)",
    );
    expect((await subjectCounts(jsm))["ORDERS.processed"]).toBeUndefined();
    expect(await worker.interrupt()).toBe(0);
  });
});
