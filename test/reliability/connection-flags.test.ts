import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { nkeys } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { toNatsOptions } from "../../src/common/connection.js";
import { UsageError } from "../../src/common/errors.js";
import { splitUrlCredentials } from "../../src/common/url-credentials.js";
import { runCli } from "../helpers/cli.js";
import { startServer } from "../helpers/nats-server.js";

describe("credentials in server URLs", () => {
  it("are taken out of the URLs the client dials and used as user and password (or token)", () => {
    expect(
      splitUrlCredentials(["nats://processor:s3cret@host:4222", "nats://processor:s3cret@h2:4222"]),
    ).toEqual({ servers: ["nats://host:4222", "nats://h2:4222"], user: "processor", password: "s3cret" });
    expect(splitUrlCredentials(["nats://t0ken@host:4222", "host2:4222"])).toEqual({
      servers: ["nats://host:4222", "host2:4222"],
      token: "t0ken",
    });
    expect(splitUrlCredentials(["tls://u:p%40ss%3Aword@host:4222"])).toEqual({
      servers: ["tls://host:4222"],
      user: "u",
      password: "p@ss:word",
    });
    expect(splitUrlCredentials(["nats://host:4222"])).toEqual({ servers: ["nats://host:4222"] });
  });

  it("refuses URLs that disagree, or that disagree with --user/--password", () => {
    expect(() => splitUrlCredentials(["nats://a:1@h1:4222", "nats://b:2@h2:4222"])).toThrow(UsageError);
    expect(() => splitUrlCredentials(["nats://a:%zz@h1:4222"])).toThrow(/percent-encoding/);
    const base = { name: "t", servers: ["nats://monitor:pw@h:4222"] };
    expect(toNatsOptions({ ...base, user: "monitor" })).toMatchObject({ user: "monitor", pass: "pw" });
    expect(() => toNatsOptions({ ...base, user: "admin" })).toThrow(/--user disagrees/);
    expect(() => toNatsOptions({ ...base, password: "other" })).toThrow(/--password disagrees/);
  });
});

describe("token and nkey authentication", () => {
  it("--token, NATS_TOKEN and a token in the URL reach a token-protected server", async () => {
    const server = await startServer({ extraConfig: 'authorization { token: "tok3n-for-tests" }' });
    const host = `127.0.0.1:${server.port}`;
    const runs = [
      await runCli(["setup", "-s", server.url, "--token", "tok3n-for-tests"]),
      await runCli(["info", "-s", server.url], { env: { NATS_TOKEN: "tok3n-for-tests" } }),
      await runCli(["info", "-s", `nats://tok3n-for-tests@${host}`]),
    ];
    for (const res of runs) {
      expect(res.stderr).toBe("");
      expect(res.code).toBe(0);
    }
    const wrong = await runCli(["info", "-s", server.url, "--token", "nope"]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/authorization/i);
  });

  it("--nkey and NATS_NKEY sign in with an nkey seed file", async () => {
    const user = nkeys.createUser();
    const server = await startServer({
      extraConfig: `authorization { users: [ { nkey: "${user.getPublicKey()}" } ] }`,
    });
    const seedFile = join(server.storeDir, "..", "user.nk");
    await writeFile(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`);
    const runs = [
      await runCli(["setup", "-s", server.url, "--nkey", seedFile]),
      await runCli(["info", "-s", server.url], { env: { NATS_NKEY: seedFile } }),
    ];
    for (const res of runs) {
      expect(res.stderr).toBe("");
      expect(res.code).toBe(0);
    }
    const other = join(server.storeDir, "..", "other.nk");
    await writeFile(other, new TextDecoder().decode(nkeys.createUser().getSeed()));
    const refused = await runCli(["info", "-s", server.url, "--nkey", other]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/authorization/i);
    const missing = await runCli([
      "info",
      "-s",
      server.url,
      "--nkey",
      join(server.storeDir, "..", "none.nk"),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toMatch(/^orderflow: cannot read nkey seed file .*none\.nk/);
  });
});
