import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { probe } from "../../src/common/nats-server.js";
import { PortAnswer, probeNats, resolveNatsEndpoint } from "../../src/runtime/nats-endpoint.js";
import { connectTo, publishOrders, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { freePort } from "../helpers/free-port.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

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

  it("tells NATS from other programs and from nothing", async () => {
    const server = await startServer();
    expect(await probeNats("127.0.0.1", server.port)).toBe(PortAnswer.Nats);
    expect(await probeNats("127.0.0.1", await freePort())).toBe(PortAnswer.None);
  });
});
