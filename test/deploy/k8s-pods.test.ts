import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it, onTestFinished } from "vitest";
import { parseAllDocuments } from "yaml";
import { type BackgroundCli, startCli } from "../helpers/background-cli.js";
import { runCli } from "../helpers/cli.js";
import { publishOrders, subjectCounts } from "../helpers/fixtures.js";
import { freePort } from "../helpers/free-port.js";
import { Role, startSecureServer } from "../helpers/secure-server.js";
import { waitFor } from "../helpers/wait.js";

// The commands deploy/k8s runs, with the args and environment its manifests give them, against
// deploy/nats-server.conf: each part as its own user and inbox prefix moves orders, the dashboard
// becomes ready, each serves the probes' endpoints and its stage's counters on its metrics listener,
// and SIGTERM (what the kubelet sends) drains each to exit 0. What only a cluster
// has is replaced: the NATS URL, the dashboard port, the index directory, the metrics port (0, as
// the processes share one host here) and the passwords (the test server's fresh ones).

const K8S = fileURLToPath(new URL("../../deploy/k8s/", import.meta.url));

// biome-ignore lint/suspicious/noExplicitAny: manifests, schema-checked in k8s.test.ts
type Obj = Record<string, any>;

function readYaml(file: string): Obj[] {
  return parseAllDocuments(readFileSync(join(K8S, file), "utf8")).map((d) => d.toJS() as Obj);
}

const kustomization = readYaml("kustomization.yaml")[0] as Obj;
const containers = (kustomization.resources as string[])
  .flatMap(readYaml)
  .filter((d) => d.kind === "Deployment")
  .flatMap((d) => d.spec.template.spec.containers as Obj[]);

function literals(kind: "configMapGenerator" | "secretGenerator", name: string): Record<string, string> {
  const g = (kustomization[kind] as Obj[]).find((x) => x.name === name) as Obj;
  return Object.fromEntries(
    ((g.literals as string[] | undefined) ?? []).map((l) => l.split(/=(.*)/s).slice(0, 2)),
  );
}

describe("deploy/k8s's pods, run as processes against deploy/nats-server.conf", () => {
  it("move orders as their own users, answer the probes, count on /metrics, and drain on SIGTERM", async () => {
    const server = await startSecureServer();
    expect((await runCli(["setup", "-s", server.urlFor(Role.Admin)])).code).toBe(0);
    const indexDir = mkdtempSync(join(tmpdir(), "orderflow-k8s-index-"));
    onTestFinished(() => rmSync(indexDir, { recursive: true, force: true }));
    const dashboardPort = await freePort();
    const token = randomBytes(16).toString("hex");

    const start = (c: Obj): BackgroundCli => {
      const args = [...(c.args as string[])];
      const set = (flag: string, value: string) => {
        const i = args.indexOf(flag);
        if (i >= 0) args[i + 1] = value;
      };
      set("--index-dir", join(indexDir, "index"));
      set("--port", String(dashboardPort));
      const env: NodeJS.ProcessEnv = {};
      for (const from of c.envFrom as Obj[]) {
        if (from.configMapRef) Object.assign(env, literals("configMapGenerator", from.configMapRef.name));
        else if (from.secretRef.name === "orderflow-dashboard-tokens") {
          env.ORDERFLOW_DASHBOARD_TOKEN = token;
          env.ORDERFLOW_DASHBOARD_READONLY_TOKEN = `${token}ro`;
        } else {
          const user = literals("secretGenerator", from.secretRef.name).NATS_USER as Role;
          env.NATS_USER = user;
          env.NATS_PASSWORD = server.passwords[user];
        }
      }
      for (const e of (c.env as Obj[] | undefined) ?? []) env[e.name] = e.value;
      env.NATS_URL = server.url;
      env.ORDERFLOW_METRICS_PORT = "0";
      // The default level, which the test helpers lower: the start line names the metrics URL.
      env.ORDERFLOW_LOG_LEVEL = "info";
      return startCli(args, env, { isolated: true });
    };

    const byName = Object.fromEntries(containers.map((c) => [c.name as string, c]));
    expect(Object.keys(byName).sort()).toEqual(["dashboard", "dispatcher", "processor"]);
    const dashboard = start(byName.dashboard as Obj);
    await waitFor("the dashboard's start line", () => {
      if (dashboard.child.exitCode !== null) throw new Error(`dashboard exited: ${dashboard.stderr()}`);
      return dashboard.stdout().includes("dashboard: ");
    });
    const workers = [start(byName.processor as Obj), start(byName.dispatcher as Obj)];
    const parts = [dashboard, ...workers];
    /** A part that stopped fails the wait at once, with its last words. */
    const running = () => {
      for (const [i, p] of parts.entries()) {
        if (p.child.exitCode !== null) {
          const last = p.stderr().trim().split("\n").at(-1);
          throw new Error(
            `${["dashboard", "processor", "dispatcher"][i]} exited ${p.child.exitCode}: ${last}`,
          );
        }
      }
    };

    const intake = await server.connectAs(Role.Intake);
    await publishOrders(intake, 200);
    const admin = await jetstreamManager(await server.connectAs(Role.Admin));
    await waitFor("200 orders completed", async () => {
      running();
      return (await subjectCounts(admin))["ORDERS.completed"] === 200;
    });
    const readyz = `http://127.0.0.1:${dashboardPort}/readyz`;
    await waitFor("the dashboard ready (both stages have a worker)", async () => {
      running();
      return (await fetch(readyz)).status === 200;
    });

    // The probes' endpoints, on each process's own metrics listener (the port the image's
    // ORDERFLOW_METRICS_PORT names; 0 here), as the kubelet and Prometheus reach them.
    const names = ["dashboard", "processor", "dispatcher"];
    for (const [i, p] of parts.entries()) {
      const base = await waitFor(`${names[i]}'s metrics listener`, () => {
        running();
        const line = p
          .stderr()
          .split("\n")
          .find((l) => l.includes('"msg":"metrics on '));
        return line ? (JSON.parse(line) as { url: string }).url.replace("0.0.0.0", "127.0.0.1") : undefined;
      });
      expect((await fetch(`${base}healthz`)).status, names[i]).toBe(200);
      await waitFor(`${names[i]} ready`, async () => (await fetch(`${base}readyz`)).status === 200);
      // No token on this listener (the PodMonitor has none), also where the dashboard needs one.
      const res = await fetch(`${base}metrics`);
      expect(res.status, names[i]).toBe(200);
      const metrics = await res.text();
      if (i > 0) expect(metrics).toContain(`orderflow_stage_processed_total{stage="${names[i]}"} 200`);
    }
    for (const p of parts) expect(`${p.stdout()}${p.stderr()}`).not.toMatch(/Permissions Violation/);
    const codes = await Promise.all(
      parts.map((p) => {
        p.child.kill("SIGTERM");
        return p.exited;
      }),
    );
    expect(codes).toEqual([0, 0, 0]);
    expect(await subjectCounts(admin)).toEqual({
      "ORDERS.received": 200,
      "ORDERS.processed": 200,
      "ORDERS.completed": 200,
    });
  });
});
