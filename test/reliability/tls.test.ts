import { connect } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { withTopology } from "../helpers/fixtures.js";
import { inboxPrefix, Role, startSecureServer, TLS_SERVER_CONF } from "../helpers/secure-server.js";
import { makeTestCertificates, type TestCertificates } from "../helpers/tls-certs.js";
import { waitFor } from "../helpers/wait.js";

/** deploy/nats-server.tls.conf as it is, its certificate paths given through the environment. */
async function tlsServer(certs: TestCertificates) {
  const server = await startSecureServer({
    config: TLS_SERVER_CONF,
    env: {
      ORDERFLOW_TLS_CERT: certs.serverCert,
      ORDERFLOW_TLS_KEY: certs.serverKey,
      ORDERFLOW_TLS_CA: certs.caFile,
    },
  });
  const tls = { caFile: certs.caFile, certFile: certs.clientCert, keyFile: certs.clientKey };
  await withTopology(await server.connectAs(Role.Admin, { tls }));
  return server;
}

function oneLine(res: { code: number | null; stdout: string; stderr: string }): string {
  expect(res.code).toBe(1);
  expect(res.stdout).toBe("");
  const lines = res.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).not.toMatch(/\bat .*\.js:\d+/);
  return lines[0] as string;
}

describe("deploy/nats-server.tls.conf", () => {
  it("serves clients that trust its CA and show a client certificate; refuses the rest in one line", async () => {
    const certs = await makeTestCertificates();
    const server = await tlsServer(certs);
    const monitor = [
      "-s",
      server.urlFor(Role.Monitor),
      "--inbox-prefix",
      inboxPrefix(Role.Monitor) as string,
    ];
    const clientCert = ["--tlscert", certs.clientCert, "--tlskey", certs.clientKey];

    const ok = await runCli(["info", ...monitor, "--tlsca", certs.caFile, ...clientCert]);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("Information for Stream ORDERS");
    // The same through localhost: the certificate names both.
    const byName = server.urlFor(Role.Monitor).replace("127.0.0.1", "localhost");
    const named = await runCli(
      ["info", "-s", byName, "--inbox-prefix", "_INBOX_monitor", "--tlsca", certs.caFile].concat(clientCert),
    );
    expect(named.code).toBe(0);

    // Without our CA the client cannot verify the server: one line that points at --tlsca.
    const noCa = oneLine(await runCli(["info", ...monitor, ...clientCert]));
    expect(noCa).toMatch(/^orderflow: cannot connect to NATS at nats:\/\/\*\*\*@127\.0\.0\.1:\d+: /);
    expect(noCa).toMatch(/certificate/i);
    expect(noCa).toContain("check --tlsca");
    const wrongCa = oneLine(await runCli(["info", ...monitor, "--tlsca", certs.otherCaFile, ...clientCert]));
    expect(wrongCa).toMatch(/certificate/i);

    // The server verifies clients: trusting it is not enough without a client certificate. (Under
    // TLS 1.3 the client learns of it only as a closed connection, retried until the connect timeout,
    // so this is checked with a short timeout and the server's own account of it.)
    const asMonitor = { servers: server.url, user: "monitor", pass: server.passwords.monitor, timeout: 3000 };
    const noClientCert = await connect({ ...asMonitor, tls: { caFile: certs.caFile } }).then(
      async (nc) => {
        await nc.close();
        return "connected";
      },
      (err: unknown) => err,
    );
    expect(noClientCert).toBeInstanceOf(Error);
    await waitFor("the server's log of the missing client certificate", () =>
      /TLS handshake error: tls: client didn't provide a certificate/.test(server.logs()),
    );

    // TLS does not replace the password.
    const wrongPassword = oneLine(
      await runCli([
        "info",
        "-s",
        server.urlFor(Role.Monitor, "wrong"),
        "--tlsca",
        certs.caFile,
        ...clientCert,
      ]),
    );
    expect(wrongPassword).toMatch(/authorization/i);
  });
});
