import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, posix } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { findNatsServerBinary } from "../../src/common/nats-server.js";
import { passwordVar, ROLES, startSecureServer } from "../helpers/secure-server.js";
import { testServerAtLeast, testServerFeatures } from "../helpers/server-version.js";
import { makeTestCertificates } from "../helpers/tls-certs.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PASSWORDS = Object.fromEntries(ROLES.map((r) => [passwordVar(r), `p${r}Secret42`]));

/** `nats-server -t -c <file>`: parses the config (and the files it names) and exits. */
function checkConfig(
  file: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(findNatsServerBinary(), ["-t", "-c", file], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, out }));
  });
}

interface ComposeService {
  name: string;
  /** `host:container[:mode]` volume entries, as written. */
  volumes: string[];
  /** The command's arguments. */
  command: string[];
}

/**
 * Just enough of the compose files' YAML to find what they run and mount (no YAML library is a
 * dependency, and these two files are ours): service names at two spaces, their `command` (flow
 * list or block list) and `volumes` block lists.
 */
function composeServices(text: string): { services: ComposeService[]; namedVolumes: string[] } {
  const services: ComposeService[] = [];
  const namedVolumes: string[] = [];
  let section = "";
  let key = "";
  let current: ComposeService | undefined;
  const unquote = (s: string) => s.trim().replace(/^"(.*)"$/, "$1");
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\s+#.*$/, "");
    if (/^\s*(#.*)?$/.test(line)) continue;
    const top = /^(\w[\w-]*):/.exec(line);
    if (top) {
      section = top[1] as string;
      continue;
    }
    if (section === "volumes") {
      const v = /^ {2}([\w-]+):/.exec(line);
      if (v) namedVolumes.push(v[1] as string);
      continue;
    }
    if (section !== "services") continue;
    const svc = /^ {2}([\w-]+):\s*$/.exec(line);
    if (svc) {
      current = { name: svc[1] as string, volumes: [], command: [] };
      services.push(current);
      continue;
    }
    const field = /^ {4}(\w+):\s*(.*)$/.exec(line);
    if (field && current) {
      key = field[1] as string;
      const flow = /^\[(.*)\]$/.exec(field[2] as string);
      if (key === "command" && flow) current.command.push(...(flow[1] as string).split(",").map(unquote));
      continue;
    }
    const item = /^ {6}- (.*)$/.exec(line);
    if (item && current) {
      if (key === "command") current.command.push(unquote(item[1] as string));
      if (key === "volumes") current.volumes.push(unquote(item[1] as string));
    }
  }
  return { services, namedVolumes };
}

/** The host file a container path comes from, through the service's bind mounts. */
function hostPath(service: ComposeService, containerPath: string): string | undefined {
  for (const v of service.volumes) {
    const [host, target] = v.split(":") as [string, string];
    if (!host.startsWith(".")) continue;
    if (containerPath === target) return join(ROOT, host);
    if (containerPath.startsWith(`${target}/`))
      return join(ROOT, host, posix.relative(target, containerPath));
  }
  return undefined;
}

describe("deploy configs", () => {
  it("nats-server.conf and the cluster node configs pass nats-server -t", async () => {
    for (const file of [
      "deploy/nats-server.conf",
      "deploy/cluster/n1.conf",
      "deploy/cluster/n2.conf",
      "deploy/cluster/n3.conf",
    ]) {
      const res = await checkConfig(file, PASSWORDS);
      expect(res.out).toContain("is valid");
      expect(res.code, `${file}: ${res.out}`).toBe(0);
    }
  });

  it("nats-server.durable.conf fsyncs before every PubAck on 2.10+; 2.9 refuses it naming sync_interval", async () => {
    const res = await checkConfig("deploy/nats-server.durable.conf", PASSWORDS);
    if (!testServerFeatures().syncInterval) {
      // docs/reliability.md: on 2.9 run deploy/nats-server.conf, which has no sync_interval.
      expect(res.code).toBe(1);
      expect(res.out).toMatch(/unknown field "sync_interval"/);
      return;
    }
    expect(res.code, res.out).toBe(0);
    const server = await startSecureServer({ config: "deploy/nats-server.durable.conf" });
    const varz = (await (await fetch(`http://127.0.0.1:${server.monitorPort}/varz`)).json()) as {
      jetstream: { config: { sync_always?: boolean; max_storage: number } };
    };
    expect(varz.jetstream.config.sync_always).toBe(true);
    // The rest is nats-server.conf's: same limits (and users, which the secure tests exercise).
    expect(varz.jetstream.config.max_storage).toBe(10_000_000_000); // "10G" is decimal to nats-server
  });

  it("nats-server.tls.conf passes nats-server -t with real certificate files", async () => {
    const certs = await makeTestCertificates();
    const res = await checkConfig("deploy/nats-server.tls.conf", {
      ...PASSWORDS,
      ORDERFLOW_TLS_CERT: certs.serverCert,
      ORDERFLOW_TLS_KEY: certs.serverKey,
      ORDERFLOW_TLS_CA: certs.caFile,
    });
    expect(res.code, res.out).toBe(0);
  });

  it("refuses to start when a password variable is missing, or does not read as a string", async () => {
    const { ORDERFLOW_MONITOR_PASSWORD: _, ...fourOfFive } = PASSWORDS;
    const missing = await checkConfig("deploy/nats-server.conf", fourOfFive);
    expect(missing.code).toBe(1);
    expect(missing.out).toMatch(/variable reference for 'ORDERFLOW_MONITOR_PASSWORD' .* can not be found/);

    // Up to 2.10 nats-server parses the value as config: `8e2…` starts like a number and is
    // refused; 2.15 reads it as the string it is (docs/reliability.md).
    const numeric = await checkConfig("deploy/nats-server.conf", {
      ...PASSWORDS,
      ORDERFLOW_INTAKE_PASSWORD: "8e2ae90defcc66b3ab4ff409",
    });
    if (testServerAtLeast("2.15.0")) {
      expect(numeric.code, numeric.out).toBe(0);
    } else {
      expect(numeric.code).toBe(1);
      expect(numeric.out).toContain("ORDERFLOW_INTAKE_PASSWORD");
    }
  });
});

describe("compose files", () => {
  it("docker-compose.yml mirrors the seed's server, with the store on a named volume", () => {
    const { services, namedVolumes } = composeServices(
      readFileSync(join(ROOT, "docker-compose.yml"), "utf8"),
    );
    expect(services.map((s) => s.name)).toEqual(["nats"]);
    const nats = services[0] as ComposeService;
    expect(nats.command).toContain("--js");
    const store = nats.command[nats.command.indexOf("-sd") + 1] as string;
    const volume = nats.volumes.find((v) => store.startsWith(`${v.split(":")[1]}/`));
    expect(volume, `a volume holding the store ${store}`).toBeDefined();
    expect(namedVolumes).toContain(volume?.split(":")[0]);
    const text = readFileSync(join(ROOT, "docker-compose.yml"), "utf8");
    expect(text).toMatch(/"4222:4222"/);
    expect(text).toMatch(/"8222:8222"/);
    expect(text).toMatch(/hostname: nats-server/);
    // Pinned to the newest server the suite runs on (README, Support), never a moving tag.
    expect(text).toMatch(/image: "nats:2\.15"/);
  });

  it("docker-compose.cluster.yml runs three nodes from configs that exist and pass nats-server -t", async () => {
    const { services, namedVolumes } = composeServices(
      readFileSync(join(ROOT, "docker-compose.cluster.yml"), "utf8"),
    );
    expect(services.map((s) => s.name)).toEqual(["n1", "n2", "n3"]);
    const serverNames = new Set<string>();
    const stores = new Set<string>();
    for (const service of services) {
      const config = service.command[service.command.indexOf("-c") + 1] as string;
      const file = hostPath(service, config);
      expect(file, `${service.name}: ${config} is not mounted from the repository`).toBeDefined();
      expect(existsSync(file as string), `${service.name}: ${file} missing`).toBe(true);
      const res = await checkConfig(file as string);
      expect(res.code, `${file}: ${res.out}`).toBe(0);
      serverNames.add(/server_name:\s*(\S+)/.exec(readFileSync(file as string, "utf8"))?.[1] ?? "");
      const storeVolume = service.volumes.find((v) => !v.startsWith("."))?.split(":")[0] as string;
      expect(namedVolumes).toContain(storeVolume);
      stores.add(storeVolume);
    }
    expect([...serverNames].sort()).toEqual(["n1", "n2", "n3"]);
    expect(stores.size).toBe(3);
    // Every node on the same pinned version as docker-compose.yml: a mixed cluster is never tested.
    const text = readFileSync(join(ROOT, "docker-compose.cluster.yml"), "utf8");
    expect([...text.matchAll(/image: "([^"]+)"/g)].map((m) => m[1])).toEqual([
      "nats:2.15",
      "nats:2.15",
      "nats:2.15",
    ]);
  });
});
