import { type ChildProcess, spawn } from "node:child_process";
import { isDeepStrictEqual } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it, onTestFinished } from "vitest";
import { CLI, runCli } from "../helpers/cli.js";
import { publishOrders, subjectCounts } from "../helpers/fixtures.js";
import { metricValue, scrape, waitForMetricsUrl } from "../helpers/metrics.js";
import { inboxPrefix, Role, type SecureServer, startSecureServer } from "../helpers/secure-server.js";
import { waitFor } from "../helpers/wait.js";

interface Worker {
  child: ChildProcess;
  output: () => string;
}

/** `orderflow worker <stage>` as `role`, credentials in the URL, killed when the test ends. */
function worker(
  server: SecureServer,
  stage: "processor" | "dispatcher",
  role: Role,
  extra: string[] = [],
): Worker {
  const args = [CLI, "worker", stage, "-s", server.urlFor(role), ...extra];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ORDERFLOW_LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const append = (c: Buffer): void => {
    output += c.toString();
  };
  child.stdout.on("data", append);
  child.stderr.on("data", append);
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return { child, output: () => output };
}

function exitOf(w: Worker): Promise<number | null> {
  if (w.child.exitCode !== null) return Promise.resolve(w.child.exitCode);
  return new Promise((resolve) => w.child.once("exit", (code) => resolve(code)));
}

describe("the pipeline on deploy/nats-server.conf", () => {
  it("runs end to end as intake, processor and dispatcher, dead letters included, each worker's /metrics with its consumer", async () => {
    const server = await startSecureServer();
    expect((await runCli(["setup", "-s", server.urlFor(Role.Admin)])).code).toBe(0);
    const processor = worker(server, "processor", Role.Processor, [
      "--inbox-prefix",
      inboxPrefix(Role.Processor) as string,
      "--metrics-port",
      "0",
    ]);
    const dispatcher = worker(server, "dispatcher", Role.Dispatcher, [
      "--inbox-prefix",
      inboxPrefix(Role.Dispatcher) as string,
      "--metrics-port",
      "0",
    ]);

    const intake = await server.connectAs(Role.Intake);
    await publishOrders(intake, 300);
    await jetstream(intake).publish("ORDERS.received", "bad,order");

    const admin = await jetstreamManager(await server.connectAs(Role.Admin));
    const want = {
      "ORDERS.received": 301,
      "ORDERS.processed": 300,
      "ORDERS.completed": 300,
      "ORDERS.failed": 1,
    };
    let counts: Record<string, number> = {};
    await waitFor("every order completed and the bad one dead-lettered", async () => {
      counts = await subjectCounts(admin);
      return isDeepStrictEqual(counts, want);
    }).catch((err: unknown) => {
      throw new Error(
        `${String(err)}\ncounts ${JSON.stringify(counts)}\n${processor.output()}\n${dispatcher.output()}`,
      );
    });
    // A worker acks its input after the output's PubAck, so the last acks trail the counts.
    for (const c of ["NEW", "DISPATCH"]) {
      await waitFor(`every ${c} delivery acked`, async () => {
        const info = await admin.consumers.info("ORDERS", c);
        return info.num_pending + info.num_ack_pending === 0;
      });
    }
    // Each worker reads its own consumer at the scrape: a request its role may send.
    for (const [w, stage, consumer, done] of [
      [processor, "processor", "NEW", 300],
      [dispatcher, "dispatcher", "DISPATCH", 300],
    ] as const) {
      const url = await waitForMetricsUrl(w.output);
      const text = await waitFor(`${stage}'s /metrics settled`, async () => {
        const t = await scrape(url);
        return metricValue(t, `orderflow_stage_processed_total{stage="${stage}"}`) === done ? t : undefined;
      });
      expect(metricValue(text, `orderflow_consumer_ack_pending{consumer="${consumer}"}`)).toBe(0);
      expect(metricValue(text, "orderflow_status_sample_errors_total")).toBe(0);
    }
    for (const w of [processor, dispatcher]) {
      expect(w.output()).not.toMatch(/Permissions Violation/);
      expect(w.child.exitCode).toBeNull();
    }
  });

  it("a worker with another stage's credentials, or without its inbox prefix, stops with one clear line", async () => {
    const server = await startSecureServer();
    expect((await runCli(["setup", "-s", server.urlFor(Role.Admin)])).code).toBe(0);

    const wrongRole = worker(server, "dispatcher", Role.Processor, [
      "--inbox-prefix",
      inboxPrefix(Role.Processor) as string,
    ]);
    expect(await exitOf(wrongRole)).toBe(1);
    expect(wrongRole.output().trim().split("\n").at(-1)).toMatch(
      /^orderflow: .*Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.INFO\.ORDERS\.DISPATCH"/,
    );

    const noInbox = worker(server, "processor", Role.Processor);
    expect(await exitOf(noInbox)).toBe(1);
    expect(noInbox.output().trim().split("\n").at(-1)).toMatch(
      /^orderflow: .*Subscription to "_INBOX\..*pass --inbox-prefix _INBOX_<user>$/,
    );
  });
});
