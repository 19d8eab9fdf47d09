import {
  AckPolicy,
  type ConsumerConfig,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { createInbox, type NatsConnection, nanos } from "@nats-io/nats-core";
import { describe, expect, it, onTestFinished } from "vitest";
import { lookupOrder } from "../../src/orders/order-lookup.js";
import { dispatcherStage, processorStage } from "../../src/stages/stage.js";
import { StageWorker } from "../../src/stages/stage-worker.js";
import { DEFAULT_TOPOLOGY } from "../../src/topology/spec.js";
import { startCli, waitForLines } from "../helpers/background-cli.js";
import { runCli } from "../helpers/cli.js";
import { subjectCounts, withTopology } from "../helpers/fixtures.js";
import { inboxPrefix, Role, type SecureServer, startSecureServer } from "../helpers/secure-server.js";
import { waitFor } from "../helpers/wait.js";
import { expectRefusedPublish, expectRefusedRequest, watchViolations } from "./permissions.js";

const t = { ...DEFAULT_TOPOLOGY };
const ORDERS = ["3001", "3002", "3003"];
const PIPELINE = ["NEW", "DISPATCH", "MONITOR"] as const;

/** `-s <monitor URL> --inbox-prefix _INBOX_monitor`: how an operator runs the read-only commands. */
function asMonitor(server: SecureServer): string[] {
  return ["-s", server.urlFor(Role.Monitor), "--inbox-prefix", inboxPrefix(Role.Monitor) as string];
}

/**
 * deploy/nats-server.conf with the topology, three orders published by intake and carried through
 * the real stage workers as processor and dispatcher: 9 messages, all completed.
 */
async function completedPipeline(): Promise<{ server: SecureServer; admin: JetStreamManager }> {
  const server = await startSecureServer();
  const admin = await withTopology(await server.connectAs(Role.Admin));
  const intake = jetstream(await server.connectAs(Role.Intake));
  for (const n of ORDERS) await intake.publish("ORDERS.received", n, { msgID: `${n}:received` });
  for (const [role, stage] of [
    [Role.Processor, processorStage(t)],
    [Role.Dispatcher, dispatcherStage(t)],
  ] as const) {
    const w = new StageWorker(await server.connectAs(role), stage, { inboxPrefix: inboxPrefix(role) });
    await w.start();
    onTestFinished(() => w.stop());
  }
  await waitFor("every order completed", async () => (await subjectCounts(admin))["ORDERS.completed"] === 3);
  return { server, admin };
}

async function consumerNames(jsm: JetStreamManager): Promise<string[]> {
  const names: string[] = [];
  for await (const c of jsm.consumers.list("ORDERS")) names.push(c.name);
  return names.sort();
}

async function pipelineConfigs(jsm: JetStreamManager): Promise<ConsumerConfig[]> {
  return Promise.all(PIPELINE.map(async (c) => (await jsm.consumers.info("ORDERS", c)).config));
}

function expectNoViolations(server: SecureServer): void {
  expect(server.logs()).not.toMatch(/Violation/);
}

describe("order lookups as the read-only monitor user", () => {
  it("`orderflow order` scans the stream when no indexer runs, and leaves no consumer behind", async () => {
    const { server, admin } = await completedPipeline();
    const res = await runCli(["order", "3002", ...asMonitor(server)]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^order 3002: completed \(3 events in /);
    expect(lines.slice(1, 4).map((l) => l.trim().split(/ +/)[2])).toEqual([
      "received",
      "processed",
      "completed",
    ]);
    expect(lines.at(-1)).toBe("searched ORDERS: scan of seq 1..9 (9 messages)");

    const json = JSON.parse((await runCli(["order", "3003", "--json", ...asMonitor(server)])).stdout);
    expect(json).toMatchObject({ orderNo: "3003", found: true, state: "completed" });
    expect(await consumerNames(admin)).toEqual(["DISPATCH", "MONITOR", "NEW"]);
    expectNoViolations(server);
  });

  it("`orderflow indexer` runs as monitor and `orderflow order` answers from it, for monitor and admin", async () => {
    const { server, admin } = await completedPipeline();
    const indexer = startCli(["indexer", ...asMonitor(server)]);
    await waitForLines(indexer, 1, "the monitor's indexer ready");
    expect(indexer.lines()[0]).toBe(
      "order index ready: 3 orders from 9 messages (through seq 9), answering on orderflow.index.lookup",
    );

    const res = await runCli(["order", "3001", "--scan-last", "0", ...asMonitor(server)]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^order 3001: completed \(3 events in /);
    expect(res.stdout.trim().split("\n").at(-1)).toBe("searched ORDERS: order index through seq 9");
    // An order that goes through the pipeline now is found too: the indexer follows the stream.
    await jetstream(await server.connectAs(Role.Intake)).publish("ORDERS.received", "3004");
    await waitFor("order 3004 completed", async () => (await subjectCounts(admin))["ORDERS.completed"] === 4);
    const fresh = await runCli(["order", "3004", "--scan-last", "0", ...asMonitor(server)]);
    expect(fresh.stderr).toBe("");
    expect(fresh.stdout).toMatch(/^order 3004: completed \(3 events in /);
    expect(fresh.stdout.trim().split("\n").at(-1)).toBe("searched ORDERS: order index through seq 12");
    // Admin asks with the default _INBOX prefix; the monitor-hosted index answers it as well.
    const byAdmin = await runCli(["order", "3002", "--scan-last", "0", "-s", server.urlFor(Role.Admin)]);
    expect(byAdmin.stderr).toBe("");
    expect(byAdmin.stdout).toMatch(/^order 3002: completed \(3 events in /);
    expect(byAdmin.stdout.trim().split("\n").at(-1)).toBe("searched ORDERS: order index through seq 12");

    expect(await consumerNames(admin)).toHaveLength(4);
    expect(await indexer.interrupt()).toBe(0);
    expect(indexer.stderr()).toBe("");
    await waitFor("the indexer's consumer deleted", async () => (await consumerNames(admin)).length === 3);
    expectNoViolations(server);
  });
});

describe("what the lookup permissions still refuse the monitor user", () => {
  it("cannot pull, create, update or delete the pipeline's consumers, nor publish into ORDERS.*", async () => {
    const { server, admin } = await completedPipeline();
    const intake = jetstream(await server.connectAs(Role.Intake));
    await intake.publish("ORDERS.received", "3005");
    const before = await pipelineConfigs(admin);
    const nc = await server.connectAs(Role.Monitor);
    const violations = watchViolations(nc);
    const jsm = await jetstreamManager(nc);
    const pullOne = JSON.stringify({ batch: 1, expires: 1_000_000_000 });

    for (const c of ["NEW", "DISPATCH"]) {
      const next = `$JS.API.CONSUMER.MSG.NEXT.ORDERS.${c}`;
      await expectRefusedRequest(nc.request(next, pullOne), next);
    }
    for (const c of PIPELINE) {
      const changed = { durable_name: c, ack_policy: AckPolicy.Explicit, ack_wait: nanos(1000) };
      // Without a filter the client uses the create-with-name subject, the one monitor's grant matches.
      await expectRefusedRequest(jsm.consumers.add("ORDERS", changed), `$JS.API.CONSUMER.CREATE.ORDERS.${c}`);
      await expectRefusedRequest(
        jsm.consumers.add("ORDERS", { ...changed, filter_subject: "ORDERS.received" }),
        `$JS.API.CONSUMER.CREATE.ORDERS.${c}.ORDERS.received`,
      );
      await expectRefusedRequest(
        jsm.consumers.update("ORDERS", c, { ack_wait: nanos(1000) }),
        new RegExp(`^\\$JS\\.API\\.CONSUMER\\.CREATE\\.ORDERS\\.${c}(\\.|$)`),
      );
      for (const subject of [
        `$JS.API.CONSUMER.CREATE.ORDERS.${c}`,
        `$JS.API.CONSUMER.DURABLE.CREATE.ORDERS.${c}`,
      ]) {
        const body = JSON.stringify({
          stream_name: "ORDERS",
          config: { ...changed, deliver_subject: "_INBOX_monitor.x" },
        });
        await expectRefusedRequest(nc.request(subject, body), subject);
      }
      await expectRefusedRequest(jsm.consumers.delete("ORDERS", c), `$JS.API.CONSUMER.DELETE.ORDERS.${c}`);
    }
    // The name comes from the subject: a permitted name cannot smuggle in a pipeline consumer's.
    const smuggled = await nc.request(
      "$JS.API.CONSUMER.CREATE.ORDERS.ROGUE",
      JSON.stringify({ stream_name: "ORDERS", config: { durable_name: "NEW", ack_policy: "explicit" } }),
    );
    expect(smuggled.json<{ error?: { err_code: number } }>().error?.err_code).toBe(10017);

    for (const stage of ["received", "processed", "completed", "failed"]) {
      await expectRefusedRequest(jetstream(nc).publish(`ORDERS.${stage}`, "6666"), `ORDERS.${stage}`);
    }
    await expectRefusedPublish(nc, violations, "ORDERS.received");

    expect(await pipelineConfigs(admin)).toEqual(before);
    expect(await consumerNames(admin)).toEqual(["DISPATCH", "MONITOR", "NEW"]);
    // The workers still own their stages: the order published above goes all the way through.
    await waitFor("order 3005 completed", async () => (await subjectCounts(admin))["ORDERS.completed"] === 4);
    expect(await subjectCounts(admin)).toEqual({
      "ORDERS.received": 4,
      "ORDERS.processed": 4,
      "ORDERS.completed": 4,
    });
  });

  it("a consumer monitor creates cannot ack NEW's messages by delivering onto NEW's ack subject", async () => {
    const server = await startSecureServer();
    const admin = await withTopology(await server.connectAs(Role.Admin));
    await jetstream(await server.connectAs(Role.Intake)).publish("ORDERS.received", "4001");
    const held = await (
      await jetstream(await server.connectAs(Role.Processor)).consumers.get("ORDERS", "NEW")
    ).next();
    expect(held?.string()).toBe("4001");
    const i = held?.info;
    // The reply subject the processor acks on, as the server formats it.
    const ackSubject = `$JS.ACK.ORDERS.NEW.${i?.deliveryCount}.${i?.streamSequence}.${i?.deliverySequence}.${i?.timestampNanos}.${i?.pending}`;
    expect((await admin.consumers.info("ORDERS", "NEW")).num_ack_pending).toBe(1);

    // A deliver subject is not something permissions can restrict. Heartbeats have empty bodies,
    // and an empty body on an ack subject is an ack: the server delivers only where a client listens.
    const nc = await server.connectAs(Role.Monitor);
    const jsm = await jetstreamManager(nc);
    const rogue = (name: string, deliver: string) =>
      jsm.consumers.add("ORDERS", {
        name,
        deliver_subject: deliver,
        ack_policy: AckPolicy.None,
        idle_heartbeat: nanos(100),
        inactive_threshold: nanos(30_000),
      });
    await rogue("ROGUE_ACK", ackSubject);
    const probe = createInbox(inboxPrefix(Role.Monitor));
    let heartbeats = 0;
    nc.subscribe(probe, {
      callback: (_err, m) => {
        if (m.data.length === 0) heartbeats++;
      },
    });
    await rogue("ROGUE_PROBE", probe);
    await waitFor("idle heartbeats of a monitor-made consumer", () => heartbeats >= 3);

    expect((await admin.consumers.info("ORDERS", "ROGUE_ACK")).delivered.consumer_seq).toBe(0);
    const info = await admin.consumers.info("ORDERS", "NEW");
    expect(info.num_ack_pending).toBe(1);
    expect(info.ack_floor.stream_seq).toBe(0);
  });
});

describe("the order index's answers", () => {
  it("go only to reply inboxes: a lookup asking for its answer on a JetStream API subject changes nothing", async () => {
    const { server, admin } = await completedPipeline();
    // The dangerous host: admin may purge and delete, and an answer is published with its rights.
    const indexer = startCli(["indexer", "-s", server.urlFor(Role.Admin)]);
    await waitForLines(indexer, 1, "the admin's indexer ready");
    const nc: NatsConnection = await server.connectAs(Role.Monitor);
    const ask = JSON.stringify({ orderNo: "3001", through: 0 });
    for (const reply of ["$JS.API.STREAM.PURGE.ORDERS", "$JS.API.STREAM.DELETE.ORDERS", "ORDERS.received"]) {
      nc.publish("orderflow.index.lookup", ask, { reply });
    }
    // Asked after them on the same connection: answered once the three were dealt with.
    const found = await lookupOrder(nc, t, "3001", { scanLast: 0, inboxPrefix: inboxPrefix(Role.Monitor) });
    expect(found.coverage.index?.indexedThrough).toBe(9);
    expect(found.entries).toHaveLength(3);

    await waitFor("three refusals logged", () => indexer.stderr().match(/lookup refused/g)?.length === 3);
    expect(indexer.stderr()).toContain('"reply":"$JS.API.STREAM.PURGE.ORDERS"');
    const info = await admin.streams.info("ORDERS", { subjects_filter: ">" });
    expect(info.state.messages).toBe(9);
    expect(info.state.subjects).toEqual({
      "ORDERS.received": 3,
      "ORDERS.processed": 3,
      "ORDERS.completed": 3,
    });
    expect(await indexer.interrupt()).toBe(0);
  });
});
