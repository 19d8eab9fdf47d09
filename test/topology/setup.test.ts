import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { PipelineChangeRefusedError } from "../../src/common/errors.js";
import { VERSION } from "../../src/common/version.js";
import { ConsumerMetadataKey, ownMetadata, settingsHash } from "../../src/topology/consumer-metadata.js";
import { ensureTopology } from "../../src/topology/ensure.js";
import { type StageSpec, seedStages } from "../../src/topology/pipeline.js";
import { consumerConfigs, DEFAULT_TOPOLOGY, type TopologyOptions } from "../../src/topology/spec.js";
import { runCli } from "../helpers/cli.js";
import { connectTo, publishOrders } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { seedPull, seedTopology } from "../helpers/seed-topology.js";
import { testServerAtLeast, testServerFeatures, testServerVersion } from "../helpers/server-version.js";
import { waitFor } from "../helpers/wait.js";

describe("orderflow setup", () => {
  it("creates the stream and all three consumers with every seed setting", async () => {
    const server = await startServer();
    const res = await runCli(["setup", "-s", server.url]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toContain("stream ORDERS: created");

    const nc = await connectTo(server);
    const jsm = await jetstreamManager(nc);
    const s = (await jsm.streams.info("ORDERS")).config;
    expect(s.subjects).toEqual(["ORDERS.*"]);
    expect(s.storage).toBe("file");
    expect(s.retention).toBe("limits");
    expect(s.discard).toBe("old");
    expect(s.max_msgs).toBe(-1);
    expect(s.max_msgs_per_subject).toBe(-1);
    expect(s.max_bytes).toBe(-1);
    expect(s.max_age).toBe(0);
    expect(s.max_msg_size).toBe(-1);
    expect(s.max_consumers).toBe(-1);
    expect(s.duplicate_window).toBe(nanos(120_000));
    expect(Boolean(s.allow_rollup_hdrs)).toBe(false);
    expect(Boolean(s.deny_delete)).toBe(false);
    expect(Boolean(s.deny_purge)).toBe(false);
    expect(s.num_replicas).toBe(1);

    for (const [name, filter] of [
      ["NEW", "ORDERS.received"],
      ["DISPATCH", "ORDERS.processed"],
    ] as const) {
      const c = (await jsm.consumers.info("ORDERS", name)).config;
      expect(c.durable_name).toBe(name);
      expect(c.deliver_subject).toBeUndefined();
      expect(c.filter_subject).toBe(filter);
      expect(c.deliver_policy).toBe("all");
      expect(c.ack_policy).toBe("explicit");
      expect(c.replay_policy).toBe("instant");
      expect(c.ack_wait).toBe(nanos(30_000));
      expect(c.max_deliver).toBe(-1);
      expect(c.max_ack_pending).toBe(1000);
      expect(c.max_waiting).toBe(512);
      expect(Boolean(c.headers_only)).toBe(false);
      expect(c.backoff ?? []).toEqual([]);
    }
    const m = (await jsm.consumers.info("ORDERS", "MONITOR")).config;
    expect(m.durable_name).toBe("MONITOR");
    expect(m.deliver_subject).toBe("monitor.ORDERS");
    expect(m.deliver_policy).toBe("all");
    expect(m.ack_policy).toBe("none");
    expect(m.replay_policy).toBe("instant");
    expect(m.filter_subject ?? "").toBe("");
    expect(Boolean(m.flow_control)).toBe(false);
    expect(m.idle_heartbeat ?? 0).toBe(0);
    expect(Boolean(m.headers_only)).toBe(false);
  });

  it("changes nothing when run again, and says so", async () => {
    const server = await startServer();
    expect((await runCli(["setup", "-s", server.url])).code).toBe(0);
    const again = await runCli(["setup", "-s", server.url, "--json"]);
    expect(again.code).toBe(0);
    const plan = JSON.parse(again.stdout);
    expect(plan.upToDate).toBe(true);
    expect(plan.applied).toBe(false);
    const text = await runCli(["setup", "-s", server.url]);
    expect(text.stdout).toContain("topology ORDERS is up to date");
  });

  it("stamps orderflow's metadata on consumers where the server keeps it (2.10+); the server's own _nats.* keys are never drift", async () => {
    const server = await startServer();
    expect((await runCli(["setup", "-s", server.url])).code).toBe(0);
    const nc = await connectTo(server);
    const jsm = await jetstreamManager(nc);
    const features = testServerFeatures();
    for (const name of ["NEW", "DISPATCH", "MONITOR"]) {
      const c = (await jsm.consumers.info("ORDERS", name)).config;
      const meta = c.metadata ?? {};
      if (!features.metadata) {
        // 2.9 has no metadata: nothing is sent, and setup works as before.
        expect(ownMetadata(meta)).toEqual({});
        continue;
      }
      expect(meta[ConsumerMetadataKey.Version]).toBe(VERSION);
      // The hash is of the settings orderflow asked for (the seed's), not of the server's echo.
      const wanted = consumerConfigs(DEFAULT_TOPOLOGY).find((w) => w.durable_name === name);
      expect(meta[ConsumerMetadataKey.Settings]).toBe(settingsHash(wanted as ConsumerConfig));
      if (features.serverMetadata) expect(Object.keys(meta).some((k) => k.startsWith("_nats."))).toBe(true);
    }
    const again = JSON.parse((await runCli(["setup", "-s", server.url, "--json"])).stdout);
    expect(again.upToDate).toBe(true);
    // A drift fixed by setup keeps the stamp (update carries metadata where the server takes it),
    // and a team's own metadata keys on the consumer survive it.
    await jsm.consumers.update("ORDERS", "NEW", {
      max_ack_pending: 50,
      ...(features.metadata
        ? {
            metadata: {
              ...ownMetadata((await jsm.consumers.info("ORDERS", "NEW")).config.metadata),
              "team.owner": "payments",
            },
          }
        : {}),
    });
    expect((await runCli(["setup", "-s", server.url])).stdout).toContain("consumer ORDERS > NEW: updated");
    const fixed = (await jsm.consumers.info("ORDERS", "NEW")).config;
    expect(fixed.max_ack_pending).toBe(1000);
    if (features.metadata) {
      expect(fixed.metadata?.[ConsumerMetadataKey.Version]).toBe(VERSION);
      expect(fixed.metadata?.["team.owner"]).toBe("payments");
    }
  });

  it("reports no change against the topology the seed's nats CLI commands create", async () => {
    const server = await startServer();
    await seedTopology(server.url);
    const res = await runCli(["setup", "-s", server.url]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain("up to date");
    expect(res.stdout).not.toMatch(/updated|created/);
  });

  it("reports a drifted consumer field by field and restores it; --dry-run only plans", async () => {
    const server = await startServer();
    expect((await runCli(["setup", "-s", server.url])).code).toBe(0);
    const nc = await connectTo(server);
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.update("ORDERS", "NEW", { ack_wait: nanos(10_000), max_ack_pending: 50 });

    const dry = await runCli(["setup", "-s", server.url, "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("consumer ORDERS > NEW: would update");
    expect(dry.stdout).toContain("ack_wait: 10s -> 30s");
    expect(dry.stdout).toContain("max_ack_pending: 50 -> 1000");
    expect((await jsm.consumers.info("ORDERS", "NEW")).config.ack_wait).toBe(nanos(10_000));

    const res = await runCli(["setup", "-s", server.url]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain("consumer ORDERS > NEW: updated");
    const c = (await jsm.consumers.info("ORDERS", "NEW")).config;
    expect(c.ack_wait).toBe(nanos(30_000));
    expect(c.max_ack_pending).toBe(1000);
  });

  it("fails clearly, naming the field, when a difference cannot be updated in place", async () => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "ORDERS", subjects: ["ORDERS.*"], storage: "memory" as never });
    const res = await runCli(["setup", "-s", server.url]);
    expect(res.code).toBe(1);
    const lines = res.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/stream ORDERS: cannot change storage in place/);
    expect(res.stderr).not.toMatch(/\bat .*\.js:\d+/);
    // Nothing was half-applied: no consumer was created.
    expect((await jsm.consumers.list("ORDERS").next()).length).toBe(0);
  });

  it("applies --replicas to a 1-node server only as far as the server allows", async () => {
    const server = await startServer();
    const res = await runCli(["setup", "-s", server.url, "--replicas", "3"]);
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split("\n")).toHaveLength(1);
    expect(res.stderr).toMatch(/replicas/i);
  });
});

/**
 * `jsm`, except that reading `consumer` once the stream's consumers were listed (the step between
 * ensureTopology's plan and its apply) first runs `race`: a worker that starts meanwhile.
 */
function racing(jsm: JetStreamManager, consumer: string, race: () => Promise<void>): JetStreamManager {
  let listed = false;
  let raced = false;
  const consumers = new Proxy(jsm.consumers, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as (...a: unknown[]) => unknown;
      if (prop === "list") {
        return (...a: unknown[]) => {
          listed = true;
          return v.apply(target, a);
        };
      }
      if (prop === "info") {
        return async (stream: string, name: string) => {
          if (listed && name === consumer && !raced) {
            raced = true;
            await race();
          }
          return v.call(target, stream, name);
        };
      }
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return new Proxy(jsm, {
    get: (target, prop) => (prop === "consumers" ? consumers : Reflect.get(target, prop, target)),
  });
}

const [PROCESSOR, DISPATCHER] = seedStages("NEW", "DISPATCH") as [StageSpec, StageSpec];

describe("setup: what it must not take for a pipeline change", () => {
  it("a mistyped --subject-prefix on an idle seed system is refused as before (filter_subject cannot change in place): neither the stream nor a consumer moves", async () => {
    const server = await startServer();
    expect((await runCli(["setup", "-s", server.url])).code).toBe(0);
    const res = await runCli(["setup", "--subject-prefix", "SHOP", "-s", server.url]);
    expect(res.code).toBe(1);
    const lines = res.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^orderflow: consumer ORDERS > NEW: cannot change filter_subject in place/);
    const jsm = await jetstreamManager(await connectTo(server));
    expect((await jsm.streams.info("ORDERS")).config.subjects).toEqual(["ORDERS.*"]);
    expect((await jsm.consumers.info("ORDERS", "NEW")).config.filter_subject).toBe("ORDERS.received");
    expect((await jsm.consumers.info("ORDERS", "DISPATCH")).config.filter_subject).toBe("ORDERS.processed");
  });

  it("a seed consumer made by hand with a start sequence is drift, as it always was (not taken for a pipeline change's start)", async () => {
    const server = await startServer();
    await seedTopology(server.url);
    const jsm = await jetstreamManager(await connectTo(server));
    await jsm.consumers.delete("ORDERS", "NEW");
    await jsm.consumers.add("ORDERS", {
      ...(seedPull("NEW", "ORDERS.received") as unknown as ConsumerConfig),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: 3,
    });
    const res = await runCli(["setup", "-s", server.url]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^orderflow: consumer ORDERS > NEW: cannot change deliver_policy in place/);
  });

  it.skipIf(!testServerFeatures().metadata)(
    "a team's own consumer on a step subject (no orderflow metadata) is neither reported for prune nor taken over from",
    async () => {
      const server = await startServer();
      expect((await runCli(["setup", "-s", server.url])).code).toBe(0);
      const nc = await connectTo(server);
      const jsm = await jetstreamManager(nc);
      await jsm.consumers.add("ORDERS", {
        durable_name: "AUDIT",
        filter_subject: "ORDERS.received",
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
      });
      await publishOrders(nc, 20, { first: 1 });
      const audit = await jetstream(nc).consumers.get("ORDERS", "AUDIT");
      const batch = await audit.fetch({ max_messages: 10, expires: 5_000 });
      let read = 0;
      for await (const m of batch) {
        await m.ackAck();
        if (++read === 10) break;
      }
      expect((await jsm.consumers.info("ORDERS", "AUDIT")).delivered.stream_seq).toBe(10);

      // NEW gone (deleted by hand): created again, it reads every received order, not after AUDIT's.
      await jsm.consumers.delete("ORDERS", "NEW");
      const res = await runCli(["setup", "--prune", "-s", server.url]);
      expect(res.stderr).toBe("");
      expect(res.code).toBe(0);
      expect(res.stdout).not.toMatch(/AUDIT: (not declared|deleted)/);
      expect(res.stdout).not.toContain("starts at stream sequence");
      // The plan names it, so an operator who meant NEW to replace it knows how.
      expect(res.stdout).toContain(
        "  note: AUDIT also read(s) it without orderflow's metadata: not taken over from, it starts as declared",
      );
      const created = await jsm.consumers.info("ORDERS", "NEW");
      expect(created.config.deliver_policy).toBe("all");
      expect(created.num_pending).toBe(20);
      expect((await jsm.consumers.info("ORDERS", "AUDIT")).delivered.stream_seq).toBe(10);

      // --prune --force also counts an unmarked consumer on a step (how a seed-made one is replaced).
      await jsm.consumers.delete("ORDERS", "NEW");
      const forced = await runCli(["setup", "--prune", "--force", "--dry-run", "-s", server.url]);
      expect(forced.code).toBe(0);
      expect(forced.stdout).toContain(
        "starts at stream sequence 11 (where AUDIT stopped reading ORDERS.received)",
      );
      expect(forced.stdout).toContain("consumer ORDERS > AUDIT: would delete");
    },
  );

  it("a consumer on a subject that is no step of the pipeline is never reported or pruned", async () => {
    const server = await startServer();
    expect((await runCli(["setup", "-s", server.url])).code).toBe(0);
    const jsm = await jetstreamManager(await connectTo(server));
    await jsm.consumers.add("ORDERS", {
      durable_name: "AUDIT",
      filter_subject: "ORDERS.audited",
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
    });
    const res = await runCli(["setup", "--prune", "-s", server.url]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).not.toContain("AUDIT");
    expect((await jsm.consumers.info("ORDERS", "AUDIT")).name).toBe("AUDIT");
  });
});

describe("setup re-reads what it plans on just before changing it", () => {
  it("--prune refuses to delete a consumer a worker started reading after the plan", async () => {
    const server = await startServer();
    expect((await runCli(["setup", "-s", server.url])).code).toBe(0);
    const nc = await connectTo(server);
    const jsm = await jetstreamManager(nc);
    const onlyProcessor: TopologyOptions = { ...DEFAULT_TOPOLOGY, stages: [PROCESSOR] };
    const race = async () => {
      await publishOrders(nc, 1, { subject: "ORDERS.processed" });
      const m = await (await jetstream(nc).consumers.get("ORDERS", "DISPATCH")).next({ expires: 5_000 });
      expect(m?.string()).toBe("1");
    };
    const run = ensureTopology(racing(jsm, "DISPATCH", race), onlyProcessor, {
      server: testServerFeatures(),
      findUndeclared: true,
      prune: true,
    });
    await expect(run).rejects.toThrow(PipelineChangeRefusedError);
    await expect(run).rejects.toThrow(
      /^consumer ORDERS > DISPATCH: not deleted: it moved while setup was planning \(.*in flight 0 -> 1, delivered stream sequence 0 -> 1\)/,
    );
    expect((await jsm.consumers.info("ORDERS", "DISPATCH")).num_ack_pending).toBe(1);
  });

  it("an in-place re-point refuses when orders arrived on the old subject after the plan (no stage would read them)", async () => {
    const server = await startServer();
    expect((await runCli(["setup", "-s", server.url])).code).toBe(0);
    const nc = await connectTo(server);
    const jsm = await jetstreamManager(nc);
    // The processor's output renamed processed -> made; the dispatcher follows.
    const renamed: TopologyOptions = {
      ...DEFAULT_TOPOLOGY,
      stages: [
        { ...PROCESSOR, output: "made" },
        { ...DISPATCHER, input: "made" },
      ],
    };
    const race = async () => {
      await publishOrders(nc, 3, { subject: "ORDERS.processed" });
      // The server counts a consumer's pending shortly after the PubAck (2.10+), not with it.
      await waitFor("DISPATCH counts them", async () => {
        return (await jsm.consumers.info("ORDERS", "DISPATCH")).num_pending === 3;
      });
    };
    const run = ensureTopology(racing(jsm, "DISPATCH", race), renamed, { server: testServerFeatures() });
    await expect(run).rejects.toThrow(
      "consumer ORDERS > DISPATCH: cannot re-point from ORDERS.processed to ORDERS.made now: 3 order(s) on ORDERS.processed are unread and no declared stage reads ORDERS.processed",
    );
    expect((await jsm.consumers.info("ORDERS", "DISPATCH")).config.filter_subject).toBe("ORDERS.processed");
  });
});

describe("connection errors", () => {
  it("an unreachable server gives one line naming the URL and the fix, exit 1", async () => {
    const server = await startServer();
    const url = server.url;
    await server.stop();
    for (const cmd of [["setup"], ["info"]]) {
      const res = await runCli([...cmd, "-s", url]);
      expect(res.code).toBe(1);
      expect(res.stdout).toBe("");
      const lines = res.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`cannot connect to NATS at ${url}`);
      expect(lines[0]).toContain("nats-server -js");
    }
  });

  it("a server without JetStream is named as such in one line, with the fix", async () => {
    const server = await startServer({ jetstream: false });
    for (const cmd of [["setup"], ["info"], ["worker", "processor"]]) {
      const res = await runCli([...cmd, "-s", server.url]);
      expect(res.code).toBe(1);
      expect(res.stderr.trim().split("\n")).toEqual([
        "orderflow: the NATS server has no JetStream for this account; start the server with JetStream (`nats-server -js`, or `jetstream {}` in its config) and enable it for the account",
      ]);
    }
  });

  it("a bad flag value is a one-line usage error", async () => {
    const res = await runCli(["setup", "--replicas", "zero"]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/replicas/);
    expect(res.stderr).not.toMatch(/\bat .*\.js:\d+/);
  });
});

describe("orderflow info", () => {
  it("prints the seed's information blocks, and JSON for scripts", async () => {
    const server = await startServer();
    await runCli(["setup", "-s", server.url]);
    const res = await runCli(["info", "-s", server.url]);
    expect(res.code).toBe(0);
    // The server's version and JetStream API level (2.11+) first, then the seed's blocks.
    const level = testServerAtLeast("2.11.0")
      ? /JetStream API level \d+/
      : /no JetStream API level \(before 2\.11\)/;
    expect(res.stdout.split("\n")[0]).toMatch(
      new RegExp(`^Server: nats-server ${testServerVersion().replaceAll(".", "\\.")}, ${level.source}$`),
    );
    expect(res.stdout).toContain("Information for Stream ORDERS");
    expect(res.stdout).toMatch(/Subjects: ORDERS\.\*/);
    expect(res.stdout).toMatch(/Duplicate Window: 2m0s/);
    expect(res.stdout).toContain("Information for Consumer ORDERS > NEW");
    expect(res.stdout).toMatch(/Filter Subject: ORDERS\.received/);
    expect(res.stdout).toMatch(/Max Ack Pending: 1,000/);
    expect(res.stdout).toContain("Information for Consumer ORDERS > MONITOR");
    expect(res.stdout).toMatch(/Delivery Subject: monitor\.ORDERS/);

    const json = JSON.parse((await runCli(["info", "-s", server.url, "--json"])).stdout);
    expect(json.stream.config.name).toBe("ORDERS");
    expect(json.server.version).toBe(testServerVersion());
    if (testServerAtLeast("2.11.0")) expect(json.server.apiLevel).toBeGreaterThanOrEqual(1);
    expect(json.consumers.map((c: { name: string }) => c.name)).toEqual(["NEW", "DISPATCH", "MONITOR"]);
  });

  it("tells the operator to run setup when the stream is missing", async () => {
    const server = await startServer();
    const res = await runCli(["info", "-s", server.url]);
    expect(res.code).toBe(1);
    expect(res.stderr.trim()).toBe("orderflow: stream ORDERS not found; run `orderflow setup` first");
  });
});
