import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { onTestFinished } from "vitest";

const run = promisify(execFile);

export interface TestCertificates {
  dir: string;
  /** The CA that signed both certificates below. */
  caFile: string;
  /** Server certificate for `localhost` and 127.0.0.1, and its key. */
  serverCert: string;
  serverKey: string;
  /** Client certificate (clientAuth) for mutual TLS, and its key. */
  clientCert: string;
  clientKey: string;
  /** A second, unrelated CA: a client trusting only it must refuse the server. */
  otherCaFile: string;
}

async function openssl(cwd: string, args: string[]): Promise<void> {
  await run("openssl", args, { cwd });
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(
    dir,
    ["req", "-x509", ...EC, "-keyout", `${name}.key`, "-out", `${name}.pem`].concat([
      "-days",
      "2",
      "-subj",
      `/CN=orderflow test ${name}`,
    ]),
  );
}

async function makeLeaf(dir: string, name: string, extensions: string): Promise<void> {
  await writeFile(join(dir, `${name}.ext`), extensions);
  await openssl(
    dir,
    ["req", "-new", ...EC, "-keyout", `${name}.key`, "-out", `${name}.csr`].concat([
      "-subj",
      `/CN=orderflow test ${name}`,
    ]),
  );
  await openssl(
    dir,
    ["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key"].concat([
      "-CAcreateserial",
      "-days",
      "2",
      "-out",
      `${name}.pem`,
      "-extfile",
      `${name}.ext`,
    ]),
  );
}

/**
 * A throw-away PKI made with the `openssl` command (EC P-256, valid two days): a CA, a server
 * certificate for localhost/127.0.0.1 and a client certificate, removed when the test ends.
 */
export async function makeTestCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), "orderflow-tls-"));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  await makeCa(dir, "ca");
  await makeCa(dir, "other-ca");
  await makeLeaf(dir, "server", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  await makeLeaf(dir, "client", "extendedKeyUsage=clientAuth\n");
  return {
    dir,
    caFile: join(dir, "ca.pem"),
    serverCert: join(dir, "server.pem"),
    serverKey: join(dir, "server.key"),
    clientCert: join(dir, "client.pem"),
    clientKey: join(dir, "client.key"),
    otherCaFile: join(dir, "other-ca.pem"),
  };
}
