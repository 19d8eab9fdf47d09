import { createServer } from "node:net";
import { describe, expect, it, onTestFinished } from "vitest";
import { runCli } from "../helpers/cli.js";

const HINT = "give a free TCP port such as 9464 (0 picks one), or leave it unset for no metrics listener";

describe("--metrics-port and --metrics-host", () => {
  it("a bad port is one line with a hint, on every command that has the flag, from the flag or the environment", async () => {
    const cases: Array<{ args: string[]; env: Record<string, string>; given: string }> = [
      { args: ["worker", "processor", "--metrics-port", "http"], env: {}, given: "http" },
      { args: ["worker", "dispatcher", "--metrics-port", "65536"], env: {}, given: "65536" },
      { args: ["indexer"], env: { ORDERFLOW_METRICS_PORT: "9464x" }, given: "9464x" },
      { args: ["up", "--metrics-port", "1.5"], env: {}, given: "1.5" },
    ];
    for (const { args, env, given } of cases) {
      const res = await runCli(args, { env });
      expect(res.stderr, args.join(" ")).toBe(
        `orderflow: --metrics-port must be a whole number from 0 to 65535, got "${given}"; ${HINT}\n`,
      );
      expect(res.code).not.toBe(0);
    }
  });

  it("a port in use is one line naming it, before anything connects", async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", () => resolve()));
    onTestFinished(() => new Promise<void>((resolve) => busy.close(() => resolve())));
    const port = (busy.address() as { port: number }).port;
    // No NATS at this address either: the listener is checked first.
    const res = await runCli([
      "worker",
      "processor",
      "-s",
      "nats://127.0.0.1:1",
      "--metrics-port",
      String(port),
    ]);
    expect(res.stderr).toMatch(
      new RegExp(
        `^orderflow: metrics cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE.*; another program uses it; pick another with --metrics-port or ORDERFLOW_METRICS_PORT\\n$`,
      ),
    );
    expect(res.code).not.toBe(0);
  });
});
