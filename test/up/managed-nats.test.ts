import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it, onTestFinished } from "vitest";
import { findNatsServerBinary } from "../../src/common/nats-server.js";
import { probe } from "../../src/common/tcp-probe.js";
import { PortAnswer, probeNats, resolveNatsEndpoint } from "../../src/runtime/nats-endpoint.js";
import { connectTo, publishOrders, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { freePort } from "../helpers/free-port.js";
import { startServer } from "../helpers/nats-server.js";
import { testServerFeatures } from "../helpers/server-version.js";
import { waitFor } from "../helpers/wait.js";
import { startPlainNats } from "./plain-nats.js";

describe("the managed nats-server", () => {
  it("is restarted on its port and store when it dies, and stopped for good by stop()", async () => {
    const port = await freePort();
    const store = await mkdtemp(join(tmpdir(), "orderflow-managed-"));
    onTestFinished(() => rm(store, { recursive: true, force: true }));
    const endpoint = await resolveNatsEndpoint({
      explicit: undefined,
      natsPort: port,
      storeDir: store,
      managedServer: "auto",
      install: "never",
    });
    const managed = endpoint.managed;
    if (!managed) throw new Error(`no managed server: ${endpoint.description}`);
    onTestFinished(() => managed.stop());
    expect(endpoint.servers).toEqual([`nats://127.0.0.1:${port}`]);

    const nc = await connectTo(endpoint.servers[0] as string);
    const jsm = await withTopology(nc);
    await publishOrders(nc, 10);
    const pid = managed.pid as number;
    process.kill(pid, "SIGKILL");
    await waitFor("a new server process on the same port", async () => {
      return managed.pid !== pid && (await probeNats("127.0.0.1", port)) === PortAnswer.Nats;
    });
    // Same store: what was stored before the crash is still there.
    await waitFor("the stream back after the restart", async () => {
      return (await subjectCounts(jsm))["ORDERS.received"] === 10;
    });

    await managed.stop();
    expect(await probe("127.0.0.1", port)).toBe(false);
  });

  it("--sync always: the managed server fsyncs before every PubAck (2.10+); 2.9 and a server up did not start are refused in one line", async () => {
    const store = await mkdtemp(join(tmpdir(), "orderflow-managed-"));
    onTestFinished(() => rm(store, { recursive: true, force: true }));
    const ask = (sync: string, explicit?: string[]) =>
      resolveNatsEndpoint({
        explicit,
        natsPort: 0,
        storeDir: store,
        managedServer: "auto",
        install: "never",
        sync,
      });
    if (!testServerFeatures().syncInterval) {
      await expect(ask("always")).rejects.toThrow(/--sync needs nats-server 2\.10 or newer; .* is 2\.9/);
    } else {
      const endpoint = await ask("always");
      const managed = endpoint.managed;
      if (!managed) throw new Error(`no managed server: ${endpoint.description}`);
      onTestFinished(() => managed.stop());
      const varz = (await (await fetch(`${managed.monitorUrl}/varz`)).json()) as {
        jetstream: { config: { sync_always?: boolean } };
      };
      expect(varz.jetstream.config.sync_always).toBe(true);
      const nc = await connectTo(endpoint.servers[0] as string);
      await withTopology(nc);
      await publishOrders(nc, 100);
      expect((await subjectCounts(await jetstreamManager(nc)))["ORDERS.received"]).toBe(100);
    }
    const other = await startServer();
    await expect(ask("always", [other.url])).rejects.toThrow(
      /--sync sets the sync_interval of the nats-server up starts/,
    );
  });

  it("looks at the port again after installing: a packaged service without JetStream gets a server beside it", async () => {
    const port = await freePort();
    const store = await mkdtemp(join(tmpdir(), "orderflow-managed-"));
    onTestFinished(() => rm(store, { recursive: true, force: true }));
    let servicePort = 0;
    const endpoint = await resolveNatsEndpoint({
      explicit: undefined,
      natsPort: port,
      storeDir: store,
      managedServer: "auto",
      install: "auto",
      // As `apt-get install nats-server` does on Debian with systemd: a service on the port, no JetStream.
      ensureBinary: async () => {
        servicePort = await startPlainNats(port);
        return findNatsServerBinary();
      },
    });
    onTestFinished(() => endpoint.managed?.stop());
    expect(servicePort).toBe(port);
    expect(endpoint.managed).toBeDefined();
    expect(endpoint.servers[0]).not.toBe(`nats://127.0.0.1:${port}`);
    expect(endpoint.description).toContain(`the nats-server on port ${port} has no JetStream`);
    const managedPort = Number(new URL(endpoint.servers[0] as string).port);
    expect(await probeNats("127.0.0.1", managedPort)).toBe(PortAnswer.Nats);
  });

  it("tells NATS from other programs and from nothing", async () => {
    const server = await startServer();
    expect(await probeNats("127.0.0.1", server.port)).toBe(PortAnswer.Nats);
    expect(await probeNats("127.0.0.1", await freePort())).toBe(PortAnswer.None);
    expect(await probeNats("127.0.0.1", await startPlainNats())).toBe(PortAnswer.NatsWithoutJetStream);
  });
});
