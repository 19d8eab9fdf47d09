import { existsSync } from "node:fs";
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { withTopology } from "../helpers/fixtures.js";
import { inboxPrefix, Role, type SecureServer, startSecureServer } from "../helpers/secure-server.js";
import { waitFor } from "../helpers/wait.js";
import {
  expectRefusedPublish,
  expectRefusedRequest,
  expectRefusedSubscribe,
  watchViolations,
} from "./permissions.js";

const PULL_NEXT = (consumer: string) => `$JS.API.CONSUMER.MSG.NEXT.ORDERS.${consumer}`;
const PULL_ONE = JSON.stringify({ batch: 1, expires: 1_000_000_000 });

/** A server from deploy/nats-server.conf with the topology (made by admin) and two received orders. */
async function serverWithOrders(): Promise<{ server: SecureServer; admin: JetStreamManager }> {
  const server = await startSecureServer();
  const admin = await withTopology(await server.connectAs(Role.Admin));
  const intake = jetstream(await server.connectAs(Role.Intake));
  await intake.publish("ORDERS.received", "1001", { msgID: "1001" });
  await intake.publish("ORDERS.received", "1002", { msgID: "1002" });
  return { server, admin };
}

async function counts(jsm: JetStreamManager): Promise<Record<string, number>> {
  return { ...(await jsm.streams.info("ORDERS", { subjects_filter: ">" })).state.subjects };
}

/**
 * What every least-privilege role must be refused: provisioning and destroying. `monitor` may create
 * consumers of its own (its ordered push readers, test/reliability/security-lookup.test.ts), never
 * the pipeline's.
 */
async function expectNoProvisioning(nc: NatsConnection, { ownReaders = false } = {}): Promise<void> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  await expectRefusedRequest(
    jsm.streams.add({ name: "ROGUE", subjects: ["rogue.>"] }),
    "$JS.API.STREAM.CREATE.ROGUE",
  );
  await expectRefusedRequest(jsm.streams.delete("ORDERS"), "$JS.API.STREAM.DELETE.ORDERS");
  await expectRefusedRequest(jsm.streams.purge("ORDERS"), "$JS.API.STREAM.PURGE.ORDERS");
  await expectRefusedRequest(jsm.consumers.delete("ORDERS", "NEW"), "$JS.API.CONSUMER.DELETE.ORDERS.NEW");
  await expectRefusedRequest(
    jsm.consumers.add("ORDERS", { durable_name: "NEW", ack_policy: "explicit" as never }),
    /^\$JS\.API\.CONSUMER\.(DURABLE\.)?CREATE\.ORDERS\.NEW$/,
  );
  if (ownReaders) return;
  await expectRefusedRequest(
    jsm.consumers.add("ORDERS", { durable_name: "ROGUE", ack_policy: "explicit" as never }),
    /^\$JS\.API\.CONSUMER\.(DURABLE\.)?CREATE\.ORDERS/,
  );
}

/** Pulls `consumer` as `nc`'s user, publishes each order's next stage like a worker, acks. */
async function workStage(nc: NatsConnection, consumer: string, out: string, n: number): Promise<string[]> {
  const js = jetstream(nc);
  const c = await js.consumers.get("ORDERS", consumer);
  const seen: string[] = [];
  while (seen.length < n) {
    for await (const m of await c.fetch({ max_messages: n - seen.length, expires: 2000 })) {
      const orderNo = m.string().split(",")[0] as string;
      const stage = out.split(".")[1] as string;
      const ack = await js.publish(out, `${orderNo},${stage}`, { msgID: `${orderNo}:${stage}` });
      expect(ack.duplicate).toBe(false);
      await m.ackAck();
      seen.push(orderNo);
    }
  }
  return seen;
}

describe("deploy/nats-server.conf", () => {
  it("starts as it is with the passwords in the environment, -p and -sd setting port and store", async () => {
    const server = await startSecureServer();
    expect(server.logs()).toContain(`Listening for client connections on 127.0.0.1:${server.port}`);
    expect(server.logs()).toMatch(/Store Directory: ".*orderflow-secure-[^"]*\/store\/jetstream"/);
    const res = await runCli(["setup", "-s", server.urlFor(Role.Admin)]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toContain("stream ORDERS: created");
    const storeDir = /Store Directory: "([^"]+)"/.exec(server.logs())?.[1] as string;
    await waitFor("the ORDERS stream in the -sd store", () =>
      existsSync(`${storeDir}/ORDERFLOW/streams/ORDERS`),
    );
  });

  it("admin may do everything: setup, and create and delete streams", async () => {
    const server = await startSecureServer();
    expect((await runCli(["setup", "-s", server.urlFor(Role.Admin)])).code).toBe(0);
    const jsm = await jetstreamManager(await server.connectAs(Role.Admin));
    await jsm.streams.add({ name: "SCRATCH", subjects: ["scratch.>"] });
    expect(await jsm.streams.delete("SCRATCH")).toBe(true);
    expect((await jsm.streams.info("ORDERS")).config.subjects).toEqual(["ORDERS.*"]);
  });

  it("intake publishes to ORDERS.received and nowhere else", async () => {
    const { server, admin } = await serverWithOrders();
    const nc = await server.connectAs(Role.Intake);
    const js = jetstream(nc);
    const ack = await js.publish("ORDERS.received", "1003");
    expect(ack.stream).toBe("ORDERS");
    // `orderflow pub` as intake works end to end (it checks the stream first).
    const pub = await runCli(
      ["pub", "ORDERS.received", "1004", "-s", server.urlFor(Role.Intake)].concat([
        "--inbox-prefix",
        inboxPrefix(Role.Intake) as string,
      ]),
    );
    expect(pub.stderr).toBe("");
    expect(pub.code).toBe(0);

    await expectRefusedRequest(js.publish("ORDERS.processed", "1001,processed"), "ORDERS.processed");
    await expectRefusedRequest(js.publish("ORDERS.completed", "1001,completed"), "ORDERS.completed");
    await expectRefusedRequest(js.publish("ORDERS.failed", "x"), "ORDERS.failed");
    await expectRefusedRequest(nc.request(PULL_NEXT("NEW"), PULL_ONE), PULL_NEXT("NEW"));
    await expectRefusedRequest(
      jetstream(nc).consumers.get("ORDERS", "NEW"),
      "$JS.API.CONSUMER.INFO.ORDERS.NEW",
    );
    await expectRefusedSubscribe(nc, "monitor.ORDERS");
    await expectRefusedSubscribe(nc, "ORDERS.>");
    await expectNoProvisioning(nc);
    expect(await counts(admin)).toEqual({ "ORDERS.received": 4 });
  });

  it("processor pulls NEW and publishes ORDERS.processed, and may not touch DISPATCH or completed", async () => {
    const { server, admin } = await serverWithOrders();
    const nc = await server.connectAs(Role.Processor);
    const violations = watchViolations(nc);
    expect(await workStage(nc, "NEW", "ORDERS.processed", 2)).toEqual(["1001", "1002"]);

    const js = jetstream(nc);
    await expectRefusedRequest(js.publish("ORDERS.completed", "1001,completed"), "ORDERS.completed");
    await expectRefusedRequest(js.publish("ORDERS.received", "6666"), "ORDERS.received");
    await expectRefusedRequest(
      js.consumers.get("ORDERS", "DISPATCH"),
      "$JS.API.CONSUMER.INFO.ORDERS.DISPATCH",
    );
    await expectRefusedRequest(nc.request(PULL_NEXT("DISPATCH"), PULL_ONE), PULL_NEXT("DISPATCH"));
    await expectRefusedPublish(nc, violations, "$JS.ACK.ORDERS.DISPATCH.1.3.1.1700000000000000000.0");
    await expectRefusedSubscribe(nc, "_INBOX_dispatcher.>");
    await expectRefusedSubscribe(nc, "monitor.ORDERS");
    await expectNoProvisioning(nc);

    expect(await counts(admin)).toEqual({ "ORDERS.received": 2, "ORDERS.processed": 2 });
    expect((await admin.consumers.info("ORDERS", "NEW")).num_ack_pending).toBe(0);
    expect((await admin.consumers.info("ORDERS", "DISPATCH")).delivered.stream_seq).toBe(0);
  });

  it("dispatcher pulls DISPATCH and publishes ORDERS.completed, and may not touch NEW or processed", async () => {
    const { server, admin } = await serverWithOrders();
    await workStage(await server.connectAs(Role.Processor), "NEW", "ORDERS.processed", 2);
    const nc = await server.connectAs(Role.Dispatcher);
    const violations = watchViolations(nc);
    expect(await workStage(nc, "DISPATCH", "ORDERS.completed", 2)).toEqual(["1001", "1002"]);

    const js = jetstream(nc);
    await expectRefusedRequest(js.publish("ORDERS.processed", "1001,processed"), "ORDERS.processed");
    await expectRefusedRequest(js.publish("ORDERS.received", "6666"), "ORDERS.received");
    await expectRefusedRequest(js.consumers.get("ORDERS", "NEW"), "$JS.API.CONSUMER.INFO.ORDERS.NEW");
    await expectRefusedRequest(nc.request(PULL_NEXT("NEW"), PULL_ONE), PULL_NEXT("NEW"));
    await expectRefusedPublish(nc, violations, "$JS.ACK.ORDERS.NEW.1.1.1.1700000000000000000.0");
    await expectRefusedSubscribe(nc, "_INBOX_processor.>");
    await expectNoProvisioning(nc);

    expect(await counts(admin)).toEqual({
      "ORDERS.received": 2,
      "ORDERS.processed": 2,
      "ORDERS.completed": 2,
    });
  });

  it("monitor reads the MONITOR feed, info and stored orders, and may change nothing", async () => {
    const { server, admin } = await serverWithOrders();
    const nc = await server.connectAs(Role.Monitor);
    const violations = watchViolations(nc);
    const feed = nc.subscribe("monitor.ORDERS");
    const events: string[] = [];
    void (async () => {
      for await (const m of feed) events.push(`${m.subject}:${m.string()}`);
    })();
    await waitFor("both orders on the MONITOR feed", () => events.length === 2);
    // Delivered on monitor.ORDERS, each carrying the subject it was stored under.
    expect(events).toEqual(["ORDERS.received:1001", "ORDERS.received:1002"]);

    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.getMessage("ORDERS", { seq: 2 }))?.string()).toBe("1002");
    expect((await jsm.consumers.info("ORDERS", "NEW")).num_pending).toBe(2);
    const info = await runCli(
      ["info", "--json", "-s", server.urlFor(Role.Monitor)].concat([
        "--inbox-prefix",
        inboxPrefix(Role.Monitor) as string,
      ]),
    );
    expect(info.stderr).toBe("");
    expect(info.code).toBe(0);
    expect(JSON.parse(info.stdout).stream.state.messages).toBe(2);

    await expectRefusedRequest(jetstream(nc).publish("ORDERS.received", "6666"), "ORDERS.received");
    await expectRefusedPublish(nc, violations, "ORDERS.completed");
    await expectRefusedRequest(nc.request(PULL_NEXT("NEW"), PULL_ONE), PULL_NEXT("NEW"));
    await expectRefusedSubscribe(nc, "ORDERS.>");
    await expectNoProvisioning(nc, { ownReaders: true });
    expect(await counts(admin)).toEqual({ "ORDERS.received": 2 });
  });
});

describe("refused connections", () => {
  it("anonymous and wrong-password connections get one line naming the authorization failure", async () => {
    const server = await startSecureServer();
    for (const url of [server.url, server.urlFor(Role.Intake, "wrong-password")]) {
      const res = await runCli(["info", "-s", url]);
      expect(res.code).toBe(1);
      expect(res.stdout).toBe("");
      const lines = res.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^orderflow: cannot connect to NATS at nats:\/\/.*127\.0\.0\.1:\d+: /);
      expect(lines[0]).toMatch(/authorization/i);
      expect(lines[0]).toContain("check --user/--password");
      expect(lines[0]).not.toContain("wrong-password");
    }
  });

  it("a least-privilege user without its inbox prefix is told to pass --inbox-prefix", async () => {
    const server = await startSecureServer();
    await withTopology(await server.connectAs(Role.Admin));
    const res = await runCli(["info", "-s", server.urlFor(Role.Monitor)]);
    expect(res.code).toBe(1);
    const last = res.stderr.trim().split("\n").at(-1);
    expect(last).toMatch(/^orderflow: Permissions Violation for Subscription to "_INBOX\./);
    expect(last).toContain("pass --inbox-prefix _INBOX_<user>");
  });

  it("credentials work from the URL, from --user/--password and from NATS_USER/NATS_PASSWORD", async () => {
    const server = await startSecureServer();
    await withTopology(await server.connectAs(Role.Admin));
    const pw = server.passwords[Role.Monitor];
    const inbox = ["--inbox-prefix", inboxPrefix(Role.Monitor) as string];
    const runs = [
      await runCli(["info", "-s", server.urlFor(Role.Monitor), ...inbox]),
      await runCli(["info", "-s", server.url, "--user", Role.Monitor, "--password", pw, ...inbox]),
      await runCli(["info", "-s", server.url, ...inbox], {
        env: { NATS_USER: Role.Monitor, NATS_PASSWORD: pw },
      }),
    ];
    for (const res of runs) {
      expect(res.stderr).toBe("");
      expect(res.code).toBe(0);
      expect(res.stdout).toContain("Information for Stream ORDERS");
    }
    const clash = await runCli(["info", "-s", server.urlFor(Role.Monitor), "--user", "admin", ...inbox]);
    expect(clash.code).toBe(1);
    expect(clash.stderr.trim()).toBe(
      "orderflow: --user disagrees with the user in the server URL; give the user once: in the URL or with --user (check NATS_USER too)",
    );
  });
});
