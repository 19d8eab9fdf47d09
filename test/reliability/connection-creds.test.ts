import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { startJwtServer } from "../helpers/jwt-server.js";

/** One `orderflow: …` line on stderr, nothing on stdout, no stack frame. */
function expectOneLineError(res: { code: number | null; stdout: string; stderr: string }): string {
  expect(res.code).toBe(1);
  expect(res.stdout).toBe("");
  const lines = res.stderr.trim().split("\n");
  expect(lines, res.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^orderflow: /);
  expect(res.stderr).not.toMatch(/\n\s+at /);
  return lines[0] ?? "";
}

describe("--creds against a server in operator (JWT) mode", () => {
  it("--creds and NATS_CREDS sign in as an account user with JetStream", async () => {
    const { server, userCreds } = await startJwtServer();
    const setup = await runCli(["setup", "-s", server.url, "--creds", userCreds]);
    expect(setup.stderr).toBe("");
    expect(setup.code).toBe(0);

    const viaFlag = await runCli(["info", "-s", server.url, "--creds", userCreds]);
    const viaEnv = await runCli(["info", "-s", server.url], { env: { NATS_CREDS: userCreds } });
    for (const res of [viaFlag, viaEnv]) {
      expect(res.stderr).toBe("");
      expect(res.code).toBe(0);
      expect(res.stdout).toContain("ORDERS");
    }

    const anonymous = await runCli(["info", "-s", server.url]);
    expectOneLineError(anonymous);
    expect(anonymous.stderr).toMatch(/authorization/i);
  });

  it("refuses a user of an unknown account, or one the account revoked, in one line", async () => {
    const { server, strangerCreds, revokedCreds } = await startJwtServer();
    for (const creds of [strangerCreds, revokedCreds]) {
      const res = await runCli(["info", "-s", server.url, "--creds", creds]);
      const line = expectOneLineError(res);
      expect(line).toMatch(/authorization/i);
      expect(line).toMatch(/--creds/);
    }
  });

  it("names a credentials file it cannot read or parse", async () => {
    const { server, dir } = await startJwtServer();
    const missing = await runCli(["info", "-s", server.url, "--creds", join(dir, "none.creds")]);
    expect(expectOneLineError(missing)).toMatch(/^orderflow: cannot read credentials file .*none\.creds/);

    const garbage = join(dir, "garbage.creds");
    await writeFile(garbage, "this is not a creds file\n");
    const bad = await runCli(["info", "-s", server.url, "--creds", garbage]);
    expect(expectOneLineError(bad)).toMatch(/unable to parse credentials; check .*--creds/);
  });
});
