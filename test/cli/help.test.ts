import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { startServer } from "../helpers/nats-server.js";

describe("operator commands", () => {
  it.each([
    ["pub", "orderflow pub ORDERS.received"],
    ["monitor", "orderflow monitor --stage failed"],
    ["status", "orderflow status --watch"],
    ["order", "orderflow order 100001"],
    ["indexer", "orderflow indexer &"],
    ["setup", "orderflow setup --interactive"],
  ])("%s --help shows an example", async (cmd, example) => {
    const res = await runCli([cmd, "--help"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain("Examples:");
    expect(res.stdout).toContain(example);
  });

  it.each([["worker"], ["up"], ["status"], ["dead-letters", "replay"], ["bench"]])(
    "%s --help names the global connection options and where they are explained",
    async (...cmd) => {
      const res = await runCli([...cmd, "--help"]);
      expect(res.code).toBe(0);
      expect(res.stdout).toContain("Global options, for every command (see `orderflow --help`):");
      expect(res.stdout).toMatch(/-s\/--server, --context, .*--creds/);
    },
  );

  it("every one of them tells the operator to run setup when the stream is missing, in one line", async () => {
    const server = await startServer();
    for (const args of [
      ["pub", "ORDERS.received", "1"],
      ["monitor"],
      ["status"],
      ["order", "1"],
      ["indexer"],
    ]) {
      const res = await runCli([...args, "-s", server.url]);
      expect(res.code, args[0]).toBe(1);
      expect(res.stderr, args[0]).toBe("orderflow: stream ORDERS not found; run `orderflow setup` first\n");
    }
  });

  it("prints a stack trace only with --debug", async () => {
    const plain = await runCli(["pub", "ORDERS.received", "{{Nope}}"]);
    expect(plain.stderr).not.toMatch(/\bat .*\.js:\d+/);
    const debug = await runCli(["pub", "ORDERS.received", "{{Nope}}", "--debug"]);
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/^orderflow: bad template in body/);
    expect(debug.stderr).toMatch(/\bat .*templates\.js:\d+/);
  });
});
