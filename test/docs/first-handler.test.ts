import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { runCli } from "../helpers/cli.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";
import { startUp } from "../up/up-process.js";

const root = join(import.meta.dirname, "../..");
/** Generous, and polled slowly: each poll is a CLI process, on a machine that may be busy. */
const SLOW = { timeoutMs: 60_000, intervalMs: 500 };

/**
 * The handler as the walk-through has the reader copy it. Inside the repository (a git-ignored
 * folder), because `import … from "orderflow"` resolves by the package's own name from there.
 */
function myHandler(): string {
  mkdirSync(join(root, ".orderflow"), { recursive: true });
  const dir = mkdtempSync(join(root, ".orderflow", "first-handler-"));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "my-handler.ts");
  copyFileSync(join(root, "examples/first-handler.ts"), file);
  return file;
}

describe("the README's walk-through, your first handler", () => {
  it("completes 1001, dead-letters A-17, and after the fix replays A-17 to completion exactly once", async () => {
    const server = await startServer();
    const s = ["-s", server.url];
    const handler = myHandler();
    const cli = async (...args: string[]) => {
      const r = await runCli([...args, ...s]);
      if (r.code !== 0) throw new Error(`orderflow ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
      return r.stdout;
    };
    const orderState = async (no: string, state: string) => {
      const r = await runCli(["order", no, ...s]);
      return r.stdout.startsWith(`order ${no}: ${state} `) ? r.stdout : undefined;
    };

    // At info, as on a terminal: the handler's `ctx.logger` line is part of what the reader sees.
    const up = startUp([...s, "--port", "0", "--processor-handler", handler], {
      ORDERFLOW_LOG_LEVEL: "info",
    });
    await up.dashboard();
    expect(await cli("pub", "ORDERS.received", "1001")).toMatch(/Published 4 bytes to ORDERS.received/);
    await cli("pub", "ORDERS.received", "A-17");
    await waitFor("order 1001 to complete", () => orderState("1001", "completed"), SLOW);
    const failed = await waitFor("order A-17 to be dead-lettered", () => orderState("A-17", "failed"), SLOW);
    expect(failed).toContain('not-numeric: order number "A-17" is not digits only');
    expect(await cli("dlq", "list")).toMatch(/processor\s+not-numeric\s+A-17\s+1\s+\d+\s+no/);
    await waitFor("the handler's log line, bound to its order", () =>
      /"orderNo":"1001".*"msg":"order accepted"/.test(up.stderr()),
    );

    // The fix, as the README has the reader make it; then Ctrl-C and the same command again.
    const source = readFileSync(handler, "utf8");
    const fixed = source.replace(
      /^const VALID_ORDER_NO = .*$/m,
      "const VALID_ORDER_NO = /^([A-Z]+-)?[0-9]+$/;",
    );
    expect(fixed).not.toBe(source);
    writeFileSync(handler, fixed);
    expect(await up.interrupt()).toBe(0);
    const again = startUp([...s, "--port", "0", "--processor-handler", handler]);
    await again.dashboard();

    expect(await cli("dlq", "replay", "--all")).toBe("replayed 1, already replayed 0, skipped 0\n");
    const completed = await waitFor("order A-17 to complete", () => orderState("A-17", "completed"), SLOW);
    expect(completed).toMatch(/received\s+seq \d+\s+\+\S+\s+replay of dead letter seq \d+/);
    expect((await cli("dlq", "replay", "--all")).trim().split("\n").at(-1)).toBe(
      "replayed 0, already replayed 1, skipped 0",
    );
    expect(await again.interrupt()).toBe(0);
  }, 180_000);
});
