import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it, onTestFinished } from "vitest";
import { probe } from "../../src/common/tcp-probe.js";
import { runCli } from "../helpers/cli.js";
import { connectTo, publishOrders, subjectCounts } from "../helpers/fixtures.js";
import { freePort } from "../helpers/free-port.js";
import { startServer } from "../helpers/nats-server.js";
import { testServerAtLeast, testServerVersion } from "../helpers/server-version.js";
import { waitFor } from "../helpers/wait.js";
import { startPlainNats } from "./plain-nats.js";
import { startUp } from "./up-process.js";

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "orderflow-up-"));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function readyz(dashboard: string): Promise<number> {
  return (await fetch(new URL("readyz", dashboard))).status;
}

/** A TCP server that answers like something other than NATS. */
async function notNats(): Promise<number> {
  const server: Server = createServer((socket) => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

describe("orderflow up: the managed nats-server", () => {
  it("starts one when nothing answers, keeps its store, and stops it on exit", async () => {
    const natsPort = await freePort();
    const store = await tempDir();
    const up = startUp(["--nats-port", String(natsPort), "--store-dir", store, "--port", "0"]);
    const dashboard = await up.dashboard();
    expect(up.stdout()).toContain(
      `started nats-server nats://127.0.0.1:${natsPort} with JetStream store ${store}`,
    );
    await waitFor("ready", async () => (await readyz(dashboard)) === 200);

    const nc = await connectTo(`nats://127.0.0.1:${natsPort}`);
    const jsm = await jetstreamManager(nc);
    await publishOrders(nc, 50);
    await waitFor("orders completed through the managed server", async () => {
      return (await subjectCounts(jsm))["ORDERS.completed"] === 50;
    });
    await nc.close();

    expect(await up.interrupt()).toBe(0);
    expect(up.stdout()).toMatch(/stopped\n$/);
    expect(await probe("127.0.0.1", natsPort)).toBe(false);
    expect(await readdir(store)).toContain("jetstream");

    // The store outlives `up`: a second run finds the orders of the first.
    const again = startUp(["--nats-port", String(natsPort), "--store-dir", store, "--port", "0"]);
    await again.dashboard();
    expect(again.stdout()).toContain("topology: ORDERS up to date");
    const nc2 = await connectTo(`nats://127.0.0.1:${natsPort}`);
    expect((await subjectCounts(await jetstreamManager(nc2)))["ORDERS.completed"]).toBe(50);
    await nc2.close();
    expect(await again.interrupt()).toBe(0);
    expect(await probe("127.0.0.1", natsPort)).toBe(false);
  });

  it("uses a NATS server that already answers on the port and starts none", async () => {
    const server = await startServer();
    const store = await tempDir();
    const up = startUp(["--nats-port", String(server.port), "--store-dir", store, "--port", "0"]);
    const dashboard = await up.dashboard();
    expect(up.stdout()).toContain(`NATS: using the nats-server at nats://127.0.0.1:${server.port}`);
    expect(up.stdout()).not.toContain("started nats-server");
    await waitFor("ready", async () => (await readyz(dashboard)) === 200);
    // The server's version and API level, in the log and the page's footer; on a server older
    // than 2.10, one line (once) saying what the team gives up there.
    const version = `nats-server ${testServerVersion()}, `;
    expect(up.stdout()).toContain(version);
    const snapshot = (await (await fetch(`${dashboard}api/snapshot`)).json()) as {
      nats: { description: string };
    };
    expect(snapshot.nats.description).toContain(version);
    expect(up.stdout().split("predates 2.10").length - 1).toBe(testServerAtLeast("2.10.0") ? 0 : 1);
    const nc = await connectTo(server);
    expect(Object.keys(await subjectCounts(await jetstreamManager(nc)))).toEqual([]);
    expect(await readdir(store)).toEqual([]);

    expect(await up.interrupt()).toBe(0);
    expect(server.running).toBe(true);
    expect(await probe("127.0.0.1", server.port)).toBe(true);
  });

  it("--sync on a server up did not start is one line with the fix, exit 1, nothing started", async () => {
    const server = await startServer();
    const res = await runCli(["up", "-s", server.url, "--sync", "always", "--port", "0"]);
    expect(res.code).toBe(1);
    const lines = res.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /--sync sets the sync_interval of the nats-server up starts.*sync_interval: always/,
    );
    const bad = await runCli(["up", "--sync", "sometimes", "--port", "0"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("starts one on a free port when the port is taken by something that is not NATS", async () => {
    const taken = await notNats();
    const store = await tempDir();
    const up = startUp(["--nats-port", String(taken), "--store-dir", store, "--port", "0"]);
    const dashboard = await up.dashboard();
    const m =
      /started nats-server nats:\/\/127\.0\.0\.1:(\d+) .*\(port (\d+) is taken by something that is not NATS; other commands reach ours with NATS_URL=nats:\/\/127\.0\.0\.1:\1\)/.exec(
        up.stdout(),
      );
    expect(m?.[2]).toBe(String(taken));
    const port = Number(m?.[1]);
    expect(port).not.toBe(taken);
    await waitFor("ready", async () => (await readyz(dashboard)) === 200);
    expect(await up.interrupt()).toBe(0);
    expect(await probe("127.0.0.1", port)).toBe(false);
  });

  it("starts its own on a free port when the NATS server on the port has no JetStream", async () => {
    const plain = await startPlainNats();
    const store = await tempDir();
    const up = startUp(["--nats-port", String(plain), "--store-dir", store, "--port", "0"]);
    const dashboard = await up.dashboard();
    const m =
      /started nats-server nats:\/\/127\.0\.0\.1:(\d+) .*\(the nats-server on port (\d+) has no JetStream/.exec(
        up.stdout(),
      );
    expect(m?.[2]).toBe(String(plain));
    expect(Number(m?.[1])).not.toBe(plain);
    await waitFor("ready", async () => (await readyz(dashboard)) === 200);
    expect(await up.interrupt()).toBe(0);
    expect(await probe("127.0.0.1", plain)).toBe(true);
  });

  it("uses the selected nats context's url as given, and starts no server", async () => {
    const server = await startServer();
    const idlePort = await freePort(); // nothing answers here: it must not matter
    const config = await tempDir();
    await mkdir(join(config, "nats", "context"), { recursive: true });
    await writeFile(join(config, "nats", "context", "ours.json"), JSON.stringify({ url: server.url }));
    await writeFile(join(config, "nats", "context.txt"), "ours\n");
    const up = startUp(["--port", "0", "--nats-port", String(idlePort), "--workers", "none"], {
      XDG_CONFIG_HOME: config,
    });
    await up.dashboard();
    expect(up.stdout()).toContain(`NATS: using NATS at ${server.url}`);
    expect(await probe("127.0.0.1", idlePort)).toBe(false);
    expect(await up.interrupt()).toBe(0);
  });

  it("never starts a server when --server or NATS_URL is given, and takes its options from the environment", async () => {
    const server = await startServer();
    const idlePort = await freePort(); // nothing answers here: it must not matter
    const port = await freePort();
    const up = startUp([], {
      NATS_URL: server.url,
      ORDERFLOW_PORT: String(port),
      ORDERFLOW_NATS_PORT: String(idlePort),
      ORDERFLOW_WORKERS: "indexer",
      ORDERFLOW_PUBLISH_FORM: "off",
      ORDERFLOW_REFRESH: "200ms",
    });
    const dashboard = await up.dashboard();
    expect(dashboard).toBe(`http://127.0.0.1:${port}/`);
    expect(up.stdout()).toContain(`NATS: using NATS at ${server.url}`);
    expect(up.stdout()).toContain("running: indexer, monitor feed, dashboard");
    expect(await probe("127.0.0.1", idlePort)).toBe(false);
    const snapshot = (await (await fetch(new URL("api/snapshot", dashboard))).json()) as {
      workers: unknown[];
      publish: { enabled: boolean };
    };
    expect(snapshot.workers).toEqual([]);
    expect(snapshot.publish.enabled).toBe(false);
    const refused = await fetch(new URL("api/publish", dashboard), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ count: 1, template: "x" }),
    });
    expect(refused.status).toBe(403);
    expect(await up.interrupt()).toBe(0);
  });

  it("fails with one line when the given server does not answer, or none may be started", async () => {
    const nobody = await freePort();
    const given = await runCli(["up", "-s", `nats://127.0.0.1:${nobody}`, "--port", "0"]);
    expect(given.code).toBe(1);
    expect(given.stderr.trim().split("\n")).toHaveLength(1);
    expect(given.stderr).toMatch(
      /^orderflow: cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+: .*; start a server/,
    );

    const never = await runCli([
      "up",
      "--nats-port",
      String(nobody),
      "--managed-server",
      "never",
      "--port",
      "0",
    ]);
    expect(never.code).toBe(1);
    expect(never.stderr).toMatch(/^orderflow: cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+/);
    expect(never.stdout).toContain("--managed-server never");

    const server = await startServer();
    const busy = await notNats();
    const taken = await runCli(["up", "-s", server.url, "--port", String(busy)]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(
      new RegExp(
        `^orderflow: dashboard cannot listen on 127\\.0\\.0\\.1:${busy}: .*EADDRINUSE.*; another program uses it; pick another with --port or ORDERFLOW_PORT\n$`,
      ),
    );

    const badPort = await runCli(["up", "--port", "http"]);
    expect(badPort.code).toBe(1);
    expect(badPort.stderr).toBe('orderflow: --port must be a whole number from 0 to 65535, got "http"\n');
  });
});
