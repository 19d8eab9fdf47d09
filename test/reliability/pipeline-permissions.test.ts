import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { describe, expect, it, onTestFinished } from "vitest";
import { DEFAULT_ORDER_INDEXER_OPTIONS } from "../../src/orders/lookup-options.js";
import {
  PIPELINE_ACCOUNT,
  passwordVarOf,
  pipelineServerConfig,
  pipelineUsers,
  userInboxPrefix,
} from "../../src/topology/permissions.js";
import { topologyOptions } from "../../src/topology/spec.js";
import { type BackgroundCli, startCli } from "../helpers/background-cli.js";
import { runCli } from "../helpers/cli.js";
import { subjectCounts } from "../helpers/fixtures.js";
import { accountUsers, parseNatsConf } from "../helpers/nats-conf.js";
import { SHOP_CONFIG, shopTopology } from "../helpers/pipelines.js";
import { Role, SERVER_CONF, startSecureServer } from "../helpers/secure-server.js";
import { waitFor } from "../helpers/wait.js";
import { expectRefusedPublish, expectRefusedRequest, watchViolations } from "./permissions.js";

const INDEX = {
  lookupSubject: DEFAULT_ORDER_INDEXER_OPTIONS.subject,
  queueGroup: DEFAULT_ORDER_INDEXER_OPTIONS.queueGroup,
};
const SHOP_STAGES = ["validator", "reserver", "payer", "shipper", "completer"] as const;

describe("the least-privilege server config generated from the pipeline (orderflow auth)", () => {
  it("for the seed's pipeline is deploy/nats-server.conf, setting for setting and grant for grant", async () => {
    const res = await runCli(["auth"]);
    expect(res.code, res.stderr).toBe(0);
    const deployed = await readFile(SERVER_CONF, "utf8");
    // The whole config, parsed (comments aside): listen, monitoring, JetStream limits, the account...
    expect(parseNatsConf(res.stdout)).toEqual(parseNatsConf(deployed));
    // ...and so each user's grants, compared as sets.
    expect(accountUsers(res.stdout, PIPELINE_ACCOUNT)).toEqual(accountUsers(deployed, PIPELINE_ACCOUNT));
    expect(pipelineServerConfig(topologyOptions(), INDEX)).toBe(res.stdout);
  });

  it("gives each shop stage a user of its own: its consumer, its output, dead letters, its inbox", async () => {
    const t = await shopTopology();
    const users = pipelineUsers(t, INDEX);
    expect(users.map((u) => u.user)).toEqual(["admin", "intake", ...SHOP_STAGES, "monitor"]);
    const payer = users.find((u) => u.user === "payer");
    expect(payer?.passwordVar).toBe("ORDERFLOW_PAYER_PASSWORD");
    expect(payer?.permissions?.publish.allow).toEqual([
      "$JS.API.INFO",
      "$JS.API.STREAM.INFO.ORDERS",
      "$JS.API.CONSUMER.INFO.ORDERS.PAY",
      "$JS.API.CONSUMER.MSG.NEXT.ORDERS.PAY",
      "$JS.ACK.ORDERS.PAY.>",
      "ORDERS.paid",
      "ORDERS.failed",
      "orderflow.index.lookup",
    ]);
    expect(payer?.permissions?.subscribe.allow).toEqual(["_INBOX_payer.>"]);
    const monitor = users.find((u) => u.user === "monitor");
    for (const c of ["VALIDATE", "RESERVE", "PAY", "SHIP", "COMPLETE", "MONITOR"]) {
      expect(monitor?.permissions?.publish.deny).toContain(`$JS.API.CONSUMER.CREATE.ORDERS.${c}`);
      expect(monitor?.permissions?.publish.deny).toContain(`$JS.API.CONSUMER.DELETE.ORDERS.${c}`);
    }
    for (const s of SHOP_STAGES) expect(monitor?.permissions?.publish.allow).toContain(`_INBOX_${s}.>`);
    // A stage named as a role would share that role's user: refused in one line.
    const clash = topologyOptions({
      stages: [{ ...(t.stages?.[0] as NonNullable<typeof t.stages>[0]), name: "monitor" }],
    });
    expect(() => pipelineUsers(clash, INDEX)).toThrow(/stage "monitor" would share the user "monitor"/);
  });

  it("runs the shop's five stages each as its own user on a real nats-server; a stage may not publish another's output", async () => {
    const dir = await mkdtemp(join(tmpdir(), "orderflow-auth-"));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const conf = join(dir, "nats-server.conf");
    const generated = await runCli(["--config", SHOP_CONFIG, "auth", "--out", conf]);
    expect(generated.code, generated.stderr).toBe(0);
    // Fresh passwords for the stages; admin, intake and monitor get theirs from the secure server.
    const stagePasswords = Object.fromEntries(
      SHOP_STAGES.map((s) => [s, `p${randomBytes(12).toString("hex")}`]),
    );
    const server = await startSecureServer({
      config: conf,
      env: Object.fromEntries(SHOP_STAGES.map((s) => [passwordVarOf(s), stagePasswords[s]])),
    });
    const urlOf = (user: string) => `nats://${user}:${stagePasswords[user]}@127.0.0.1:${server.port}`;
    const setup = await runCli(["--config", SHOP_CONFIG, "setup", "-s", server.urlFor(Role.Admin)]);
    expect(setup.code, setup.stderr).toBe(0);

    const workers: BackgroundCli[] = SHOP_STAGES.map((s) =>
      startCli(["--config", SHOP_CONFIG, "worker", s, "-s", urlOf(s), "--inbox-prefix", userInboxPrefix(s)], {
        ORDERFLOW_LOG_LEVEL: "info",
      }),
    );
    for (const [i, s] of SHOP_STAGES.entries()) {
      await waitFor(`${s} started as user ${s}`, () => {
        const w = workers[i] as BackgroundCli;
        if (w.child.exitCode !== null) throw new Error(`${s} exited: ${w.stderr()}${w.stdout()}`);
        return `${w.stdout()}${w.stderr()}`.includes(`"${s} started"`);
      });
    }

    const intake = await server.connectAs(Role.Intake);
    const js = jetstream(intake);
    const orders = 200;
    for (let i = 0; i < orders; i++) await js.publish("ORDERS.received", `${i + 1}`);
    // The validator dead-letters test orders: the dead-letter grant is exercised too.
    await js.publish("ORDERS.received", "test-1");

    const admin = await jetstreamManager(await server.connectAs(Role.Admin));
    const want = {
      "ORDERS.received": orders + 1,
      "ORDERS.validated": orders,
      "ORDERS.reserved": orders,
      "ORDERS.paid": orders,
      "ORDERS.shipped": orders,
      "ORDERS.completed": orders,
      "ORDERS.failed": 1,
    };
    let counts: Record<string, number> = {};
    await waitFor("every order completed through five users, the test order dead-lettered", async () => {
      counts = await subjectCounts(admin);
      return isDeepStrictEqual(counts, want);
    }).catch((err: unknown) => {
      throw new Error(
        `${String(err)}\ncounts ${JSON.stringify(counts)}\n${workers.map((w) => w.stderr()).join("\n")}`,
      );
    });
    for (const w of workers) expect(w.stderr()).not.toMatch(/[Pp]ermission/);

    // The validator's user, as its worker connects: it may not write the reserver's step, nor pull
    // the reserver's consumer.
    const validator = await connect({
      servers: server.url,
      user: "validator",
      pass: stagePasswords.validator,
      inboxPrefix: userInboxPrefix("validator"),
      maxReconnectAttempts: -1,
    });
    onTestFinished(async () => {
      if (!validator.isClosed()) await validator.close();
    });
    const seen = watchViolations(validator);
    await expectRefusedPublish(validator, seen, "ORDERS.reserved");
    await expectRefusedRequest(
      jetstream(validator).publish("ORDERS.completed", "1,completed"),
      "ORDERS.completed",
    );
    await expectRefusedRequest(
      validator.request("$JS.API.CONSUMER.MSG.NEXT.ORDERS.RESERVE", "1", { timeout: 2000 }),
      "$JS.API.CONSUMER.MSG.NEXT.ORDERS.RESERVE",
    );
    // Its own step is allowed: the same publish as its worker's goes through.
    await jetstream(validator).publish("ORDERS.validated", "999,validated");
    await Promise.all(workers.map((w) => w.interrupt()));
  });
});
