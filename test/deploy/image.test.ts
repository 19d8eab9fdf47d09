import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { beforeAll, describe, expect, it } from "vitest";
import { connectTo, publishOrders, readSubject, subjectCounts } from "../helpers/fixtures.js";
import { freePort } from "../helpers/free-port.js";
import { startServer } from "../helpers/nats-server.js";
import {
  containerLogs,
  havePodman,
  PODMAN_ULIMITS,
  podman,
  podmanOk,
  runDetached,
} from "../helpers/podman.js";
import { waitFor } from "../helpers/wait.js";

// The Dockerfile, built and run for real with podman on a base made from Debian packages and the npm
// registry's Node (scripts/image-base.mjs): no container registry is needed. Where podman is missing
// the file is skipped with one line, except under CI=true, where the image is part of what CI checks.
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PACKAGE_VERSION = (JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")) as { version: string })
  .version;
const onCi = process.env.CI === "true";
const runnable = havePodman() || onCi;
if (!runnable) {
  console.log(
    "test/deploy/image.test.ts skipped: podman not found (apt-get install podman runc slirp4netns mmdebstrap)",
  );
}

/**
 * Each container has a network namespace of its own (so every one can serve the image's fixed
 * metrics port 9464, as in a pod), and reaches the test's nats-server on the host's loopback
 * through slirp4netns's host address 10.0.2.2.
 */
const NETWORK = ["--network", "slirp4netns:allow_host_loopback=true"];
const HOST_FROM_CONTAINER = "10.0.2.2";
/** Container names of this run: unique, so runs side by side do not collide. */
const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;

let image = "";

/**
 * A hash of the build context (the repository less .dockerignore's entries) and the base: the image
 * tag, so a run with nothing changed reuses the image instead of asking podman's (slow) layer cache.
 */
function contextHash(base: string): string {
  const ignored = readFileSync(`${ROOT}.dockerignore`, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  // Its entries are names and *.suffix patterns at the top, as Docker reads them (no **).
  const skip = (name: string, top: boolean) =>
    top && ignored.some((p) => (p.startsWith("*") ? name.endsWith(p.slice(1)) : p === name));
  const h = createHash("sha256").update(base);
  const walk = (dir: string, top: boolean) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      if (skip(entry.name, top)) continue;
      const rel = join(dir, entry.name);
      if (entry.isDirectory()) walk(rel, false);
      else if (entry.isFile())
        h.update(rel)
          .update("\0")
          .update(readFileSync(join(ROOT, rel)))
          .update("\0");
    }
  };
  walk("", true);
  return h.digest("hex").slice(0, 16);
}

function buildBase(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [`${ROOT}scripts/image-base.mjs`],
      { encoding: "utf8", timeout: 300_000 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`image-base failed:\n${stderr}`)) : resolve(stdout.trim()),
    );
  });
}

/** A registry behind a TLS-inspecting proxy needs its CA for `npm ci`: the build's `ca` secret. */
function caSecret(): string[] {
  const bundle = process.env.NODE_EXTRA_CA_CERTS;
  return bundle && existsSync(bundle) ? ["--secret", `id=ca,src=${bundle}`] : [];
}

describe.runIf(runnable)("the container image (podman)", () => {
  beforeAll(async () => {
    if (!havePodman())
      throw new Error("podman not found, and CI=true requires the image test: .ci/run installs it");
    const base = await buildBase();
    image = `localhost/orderflow-test:${contextHash(base)}`;
    if ((await podman(["image", "exists", image])).code === 0) return;
    // Images of earlier contents are not needed again.
    const old = await podmanOk([
      "images",
      "--filter",
      "reference=localhost/orderflow-test",
      "--format",
      "{{.Repository}}:{{.Tag}}",
    ]);
    for (const ref of old.split("\n").filter(Boolean)) await podman(["untag", ref]);
    // --jobs 2: the build and prune stages run side by side. --format docker: OCI images have no
    // HEALTHCHECK.
    await podmanOk(
      [
        "build",
        "--format",
        "docker",
        "--jobs",
        "2",
        ...PODMAN_ULIMITS,
        "--network",
        "host",
        ...caSecret(),
        "--build-arg",
        `BASE_IMAGE=${base}`,
        "--build-arg",
        `VERSION=${PACKAGE_VERSION}`,
        "-t",
        image,
        ROOT,
      ],
      { timeoutMs: 300_000 },
    );
  }, 600_000);

  it("is configured as documented: non-root, tini first, production, health check, labels", async () => {
    const [info] = JSON.parse(await podmanOk(["image", "inspect", image])) as Array<{
      Config: {
        User: string;
        Entrypoint: string[];
        Cmd: string[];
        Env: string[];
        WorkingDir: string;
        Labels: Record<string, string>;
        ExposedPorts: Record<string, unknown>;
      };
      Healthcheck?: { Test: string[] };
    }>;
    expect(info?.Config.User).toBe("orderflow");
    expect(info?.Config.Entrypoint).toEqual(["tini", "--", "node", "/app/dist/main.js"]);
    expect(info?.Config.Cmd).toEqual(["up"]);
    expect(info?.Config.WorkingDir).toBe("/app");
    expect(info?.Config.Env).toEqual(
      expect.arrayContaining([
        "NODE_ENV=production",
        "ORDERFLOW_METRICS_PORT=9464",
        "ORDERFLOW_METRICS_HOST=0.0.0.0",
        "ORDERFLOW_MANAGED_SERVER=never",
      ]),
    );
    expect(Object.keys(info?.Config.ExposedPorts ?? {}).sort()).toEqual(["8080/tcp", "9464/tcp"]);
    expect(info?.Config.Labels["org.opencontainers.image.version"]).toBe(PACKAGE_VERSION);
    const healthcheck = info?.Healthcheck?.Test.join(" ") ?? "";
    expect(healthcheck).toContain("http://127.0.0.1:");
    expect(healthcheck).toContain("process.env.ORDERFLOW_METRICS_PORT || 9464");
    expect(healthcheck).toContain("/healthz");
    // The Dockerfile's own default must follow package.json too (Docker builds without --build-arg).
    expect(readFileSync(`${ROOT}Dockerfile`, "utf8")).toContain(`ARG VERSION=${PACKAGE_VERSION}`);

    // The user, and that the data path (docs/container.md, "Volumes") is theirs to write.
    const res = await podmanOk([
      "run",
      "--rm",
      ...PODMAN_ULIMITS,
      "--network",
      "none",
      "--entrypoint",
      "sh",
      image,
      "-c",
      "id -u && touch /app/.orderflow/probe && echo writable",
    ]);
    expect(res.trim().split("\n")).toEqual(["10001", "writable"]);
  });

  it("runs setup and both stage workers against a nats-server; SIGTERM drains a worker with nothing lost", async () => {
    const server = await startServer();
    const url = `nats://${HOST_FROM_CONTAINER}:${server.port}`;
    const nc = await connectTo(server);

    const setup = await podman(["run", "--rm", ...PODMAN_ULIMITS, ...NETWORK, image, "setup", "-s", url]);
    expect(setup.code, setup.stderr).toBe(0);
    // An ack wait far beyond the test's time: every order the stopped worker held must have been
    // given back at once (NAK), not left to time out, for the next worker to finish in time.
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.update("ORDERS", "NEW", { ack_wait: nanos(600_000) });

    const worker = (name: string, stage: string, extra: string[] = [], runOptions: string[] = []) =>
      runDetached(
        image,
        `orderflow-${name}-${RUN_ID}`,
        [...NETWORK, "-e", "ORDERFLOW_LOG_LEVEL=info", ...runOptions],
        ["worker", stage, "-s", url, ...extra],
      );
    const started = (name: string, stage: string) =>
      waitFor(`${stage} started in ${name}`, async () =>
        (await containerLogs(name)).includes(`"${stage} started"`),
      );
    // A rate limit keeps orders in flight when the first processor is stopped.
    const first = await worker("processor-1", "processor", ["--rate-limit", "400"]);
    // The dispatcher's metrics port published on the host: the image listens on 0.0.0.0:9464.
    const metricsPort = await freePort();
    const dispatcher = await worker("dispatcher", "dispatcher", [], ["-p", `127.0.0.1:${metricsPort}:9464`]);
    await started(first, "processor");
    await started(dispatcher, "dispatcher");

    // tini is PID 1, orderflow its child.
    const pid1 = await podmanOk(["exec", first, "cat", "/proc/1/cmdline"]);
    expect(pid1.split("\0").slice(0, 3)).toEqual(["tini", "--", "node"]);

    // The image's own HEALTHCHECK command, run by podman inside the container.
    const health = await podman(["healthcheck", "run", first]);
    expect(health.code, health.stdout + health.stderr).toBe(0);

    const n = 2_000;
    const publishing = publishOrders(nc, n);
    await waitFor(
      "some orders processed",
      async () => ((await subjectCounts(jsm))["ORDERS.processed"] ?? 0) >= 200,
    );

    // podman stop sends SIGTERM to PID 1 (tini), which forwards it to orderflow.
    const stopping = performance.now();
    const stop = await podman(["stop", "-t", "30", first]);
    expect(stop.code, stop.stderr).toBe(0);
    const drainMs = Math.round(performance.now() - stopping);
    const exit = await podmanOk(["inspect", "--format", "{{.State.ExitCode}}", first]);
    expect(exit.trim()).toBe("0");
    const firstLog = await containerLogs(first);
    expect(firstLog).toContain('"processor stopped"');
    expect(firstLog).not.toContain("drain timeout");
    expect(firstLog).not.toContain("stopping with orders in flight");
    // It was stopped mid-run: orders were still to be processed.
    expect((await subjectCounts(jsm))["ORDERS.processed"] ?? 0).toBeLessThan(n);
    console.log(`image.test.ts: podman stop (SIGTERM) → processor exited 0 after ${drainMs} ms`);

    const second = await worker("processor-2", "processor");
    await publishing;
    await waitFor("every order completed", async () => (await subjectCounts(jsm))["ORDERS.completed"] === n, {
      timeoutMs: 60_000,
    });
    // Exactly once, by payload: n distinct orders, each completed once.
    const completed = await readSubject(nc, "ORDERS.completed");
    expect(completed).toHaveLength(n);
    expect(new Set(completed).size).toBe(n);
    const counts = await subjectCounts(jsm);
    expect(counts["ORDERS.processed"]).toBe(n);
    expect(counts["ORDERS.failed"]).toBeUndefined();

    // The same count from the dispatcher's own /metrics, scraped from the host.
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const dispatched = /^orderflow_stage_processed_total\{[^}]*stage="dispatcher"[^}]*\} (\d+)$/m.exec(
      metrics,
    );
    expect(Number(dispatched?.[1])).toBe(n);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status).toBe(200);

    for (const name of [second, dispatcher]) {
      expect((await podman(["stop", "-t", "30", name])).code).toBe(0);
      expect((await podmanOk(["inspect", "--format", "{{.State.ExitCode}}", name])).trim()).toBe("0");
    }
  }, 180_000);
});
