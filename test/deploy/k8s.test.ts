import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1";
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service } from "kubernetes-models/v1";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { durationFlag } from "../../src/common/duration.js";
import { findNatsServerBinary } from "../../src/common/nats-server.js";
import { DEFAULT_STAGE_WORKER_OPTIONS } from "../../src/stages/worker-options.js";
import { DEFAULT_TOPOLOGY, SEED } from "../../src/topology/spec.js";
import { CLI } from "../helpers/cli.js";
import { testServerAtLeast } from "../helpers/server-version.js";

// test/deploy/k8s.test.ts: deploy/k8s/ validated against the Kubernetes, KEDA and
// prometheus-operator schemas, and checked to agree with the code it runs (flags, env names, ports,
// probe paths, credentials, drain time, topology names) and with deploy/nats-server.conf.

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const K8S = join(ROOT, "deploy/k8s");
const SERVER_CONF = readFileSync(join(ROOT, "deploy/nats-server.conf"), "utf8");
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
/** The Helm values for the NATS chart: in deploy/k8s, but not a Kubernetes resource. */
const HELM_VALUES = "nats-values.yaml";

const DOCKERFILE = readFileSync(join(ROOT, "Dockerfile"), "utf8");

/** What the image's Dockerfile sets: `pattern`'s first group, or a failure naming what is missing. */
function fromDockerfile(pattern: RegExp, what: string): string {
  const m = pattern.exec(DOCKERFILE);
  if (!m?.[1]) throw new Error(`Dockerfile: no ${what}`);
  return m[1];
}
const IMAGE_METRICS_PORT = Number(
  fromDockerfile(/ORDERFLOW_METRICS_PORT=(\d+)/, "ENV ORDERFLOW_METRICS_PORT"),
);
const IMAGE_METRICS_HOST = fromDockerfile(/ORDERFLOW_METRICS_HOST=(\S+)/, "ENV ORDERFLOW_METRICS_HOST");
const IMAGE_UID = Number(fromDockerfile(/useradd --uid (\d+)/, "user (useradd --uid)"));

// biome-ignore lint/suspicious/noExplicitAny: manifests are checked field by field below, after schema validation
type Obj = Record<string, any>;

interface Manifest {
  file: string;
  doc: Obj;
}

function readYaml(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(join(K8S, file), "utf8"));
  for (const d of docs) if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]?.message}`);
  return docs.map((d) => d.toJS() as Obj).filter((d) => d !== null);
}

const kustomization = readYaml("kustomization.yaml")[0] as Obj;
const resourceFiles = kustomization.resources as string[];
const manifests: Manifest[] = resourceFiles.flatMap((file) => readYaml(file).map((doc) => ({ file, doc })));
const values = readYaml(HELM_VALUES)[0] as Obj;

const byKind = (kind: string) => manifests.filter((m) => m.doc.kind === kind).map((m) => m.doc);
const deployments = byKind("Deployment");
const containers = deployments.flatMap((d) =>
  (d.spec.template.spec.containers as Obj[]).map((c) => ({ deployment: d, container: c })),
);

/** The schema of each kind the kustomization may hold, by `apiVersion/kind`. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  "v1/Namespace": Namespace,
  "v1/Service": Service,
  "v1/PersistentVolumeClaim": PersistentVolumeClaim,
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "apps/v1/Deployment": Deployment,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "keda.sh/v1alpha1/ScaledObject": ScaledObject,
  "monitoring.coreos.com/v1/PodMonitor": PodMonitor,
};

/** Throws a message naming the object when `doc` does not validate against its kind's schema. */
function validate(doc: Obj): void {
  const key = `${doc.apiVersion}/${doc.kind}`;
  const Model = MODELS[key];
  if (!Model) throw new Error(`no schema for ${key} (${doc.metadata?.name})`);
  try {
    new Model(doc as never).validate();
  } catch (err) {
    throw new Error(`${key} ${doc.metadata?.name}: ${(err as Error).message}`);
  }
}

/** An option of the CLI as its --help prints it. */
interface CliOption {
  flags: string[];
  env?: string;
  choices?: string[];
}

/** The options `node dist/main.js [cmd] --help` lists (the built CLI: what the image runs). */
function cliOptions(...cmd: string[]): CliOption[] {
  const r = spawnSync(process.execPath, [CLI, ...cmd, "--help"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`orderflow ${cmd.join(" ")} --help: exit ${r.status} ${r.stderr}`);
  const options: string[] = [];
  for (const line of r.stdout.split("\n")) {
    if (/^ {2}(-\w, )?--[a-z]/.test(line)) options.push(line.trim());
    else if (/^ {6,}\S/.test(line) && options.length > 0 && !/^(Commands|Arguments):/.test(line)) {
      options[options.length - 1] += ` ${line.trim()}`;
    } else if (/^\S/.test(line)) options.push(""); // a new section ends the last option
  }
  return options
    .filter((o) => o.startsWith("-"))
    .map((o) => ({
      flags: [...o.split(/\s{2,}/)[0]!.matchAll(/--?[a-z][a-z-]*/g)].map((m) => m[0]),
      env: /env: ([A-Z_]+)\)/.exec(o)?.[1],
      choices: /choices: ((?:"[^"]+",? ?)+)/
        .exec(o)?.[1]
        ?.match(/"[^"]+"/g)
        ?.map((c) => c.slice(1, -1)),
    }));
}

const GLOBAL_OPTIONS = cliOptions();
const COMMAND_OPTIONS: Record<string, CliOption[]> = {
  worker: cliOptions("worker"),
  up: cliOptions("up"),
};

/** The environment names the process reads besides the CLI's (Node's own). */
const NODE_ENV_NAMES = new Set(["NODE_OPTIONS"]);
/** The users deploy/nats-server.conf defines, with the password variable of each. */
function confUsers(): Map<string, string> {
  return new Map(
    [...SERVER_CONF.matchAll(/user:\s*(\w+)\s*,?\s*password:\s*\$(\w+)/g)].map((m) => [m[1]!, m[2]!]),
  );
}

/** Every quoted subject of the conf's accounts block, in order, comments left out. */
function confPermissionSubjects(): string[] {
  const accounts = SERVER_CONF.slice(SERVER_CONF.indexOf("accounts {"));
  const code = accounts
    .split("\n")
    .map((l) => l.replace(/#.*$/, ""))
    .join("\n");
  return [...code.matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
}

/** The same from the Helm values' `config.merge.accounts`, in the conf's order (allow, deny, subscribe). */
function valuesPermissionSubjects(): string[] {
  const users = values.config.merge.accounts[confAccount()].users as Obj[];
  return users.flatMap((u) => [
    ...(u.permissions?.publish?.allow ?? []),
    ...(u.permissions?.publish?.deny ?? []),
    ...(u.permissions?.subscribe?.allow ?? []),
  ]);
}

function confAccount(): string {
  const m = /accounts\s*\{\s*(\w+)\s*\{/.exec(SERVER_CONF);
  if (!m) throw new Error("deploy/nats-server.conf: no account");
  return m[1]!;
}

/** The generated ConfigMap/Secret `name`, its literal keys and values (the env files are the deployer's). */
function generator(kind: "configMapGenerator" | "secretGenerator", name: string) {
  const g = (kustomization[kind] as Obj[]).find((x) => x.name === name);
  if (!g) throw new Error(`kustomization.yaml: no ${kind} named ${name}`);
  const literals = Object.fromEntries(
    ((g.literals as string[] | undefined) ?? []).map((l) => [
      l.slice(0, l.indexOf("=")),
      l.slice(l.indexOf("=") + 1),
    ]),
  );
  return { literals, envs: (g.envs as string[] | undefined) ?? [] };
}

const ENV_CONFIG = generator("configMapGenerator", "orderflow-env").literals;

/** Env names a container gets: its `env`, and the keys of the generated objects it loads with `envFrom`. */
function containerEnv(c: Obj): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  for (const from of (c.envFrom as Obj[] | undefined) ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    const kind = from.configMapRef ? "configMapGenerator" : "secretGenerator";
    const g = generator(kind, ref.name);
    for (const [k, v] of Object.entries(g.literals)) out.set(k, v);
    for (const file of g.envs) for (const k of documentedEnvKeys(file)) out.set(k, undefined);
  }
  for (const e of (c.env as Obj[] | undefined) ?? []) out.set(e.name, e.value);
  return out;
}

const FLEET_DOC = readFileSync(join(ROOT, "docs/fleet.md"), "utf8");

/**
 * The keys docs/fleet.md's credential commands write into a generator's env file (the file itself is
 * git-ignored: it holds passwords). The docs are what the deployer follows, so they are what to check.
 */
function documentedEnvKeys(file: string): string[] {
  const name = file.replace(/^credentials\//, "").replace(".", "\\.");
  const lines = FLEET_DOC.split("\n").filter((l) => new RegExp(`>>? *${name}\\b`).test(l));
  return [...new Set(lines.flatMap((l) => [...l.matchAll(/\b([A-Z][A-Z_]+)=/g)].map((m) => m[1]!)))];
}

function stageOf(c: Obj): string | undefined {
  const args = c.args as string[];
  return args[0] === "worker" ? args[1] : undefined;
}

function flagValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

describe("deploy/k8s", () => {
  it("lists every manifest in kustomization.yaml, and each one exists", () => {
    const onDisk = readdirSync(K8S).filter((f) => /\.ya?ml$/.test(f));
    const expected = onDisk.filter((f) => f !== "kustomization.yaml" && f !== HELM_VALUES).sort();
    expect([...resourceFiles].sort()).toEqual(expected);
    // The generators' inputs are the deployer's secrets: git-ignored, documented.
    const envFiles = [
      ...(kustomization.secretGenerator as Obj[]),
      ...(kustomization.configMapGenerator as Obj[]),
    ].flatMap((g) => (g.envs as string[] | undefined) ?? []);
    expect(readFileSync(join(K8S, "credentials/.gitignore"), "utf8")).toMatch(/^\*\.env$/m);
    // …and never in the image: the Dockerfile copies deploy/.
    expect(readFileSync(join(ROOT, ".dockerignore"), "utf8")).toMatch(/^deploy\/k8s\/credentials$/m);
    for (const f of envFiles) {
      expect(f).toMatch(/^credentials\/[a-z]+\.env$/);
      expect(FLEET_DOC).toContain(f.replace(/^credentials\//, ""));
    }
  });

  it("validates every object against its Kubernetes, KEDA or prometheus-operator schema", () => {
    expect(manifests.length).toBeGreaterThan(0);
    for (const { doc } of manifests) validate(doc);
    expect(kustomization.apiVersion).toBe("kustomize.config.k8s.io/v1beta1");
    expect(kustomization.kind).toBe("Kustomization");
  });

  it("has schemas that refuse a broken manifest (the validation can fail)", () => {
    const broken = structuredClone(deployments[0]) as Obj;
    broken.spec.template.spec.containers[0].readinessProbe.httpGet.port = { name: "metrics" };
    expect(() => validate(broken)).toThrow(/readinessProbe\/httpGet\/port/);
    const so = structuredClone(byKind("ScaledObject")[0]) as Obj;
    so.spec.triggers[0].metadata.lagThreshold = 5000; // KEDA wants strings
    expect(() => validate(so)).toThrow(/metadata\/lagThreshold must be string/);
    const pm = structuredClone(byKind("PodMonitor")[0]) as Obj;
    pm.spec.podMetricsEndpoints = "metrics";
    expect(() => validate(pm)).toThrow(/podMetricsEndpoints must be array/);
  });

  it("runs processor, dispatcher and the dashboard with the index, in the image of package.json's version", () => {
    expect(
      containers.map(({ container }) => (container.args as string[]).slice(0, 2).join(" ")).sort(),
    ).toEqual(["up --workers", "worker dispatcher", "worker processor"]);
    const dashboard = containers.find(({ container }) => container.args[0] === "up")!.container;
    expect(flagValue(dashboard.args, "--workers")).toBe("indexer");
    expect(flagValue(dashboard.args, "--managed-server")).toBe("never");
    expect(flagValue(dashboard.args, "--install")).toBe("never");
    expect(flagValue(dashboard.args, "--host")).toBe("0.0.0.0");
    const indexDir = flagValue(dashboard.args, "--index-dir")!;
    const mounts = (dashboard.volumeMounts as Obj[]).filter((m) => indexDir.startsWith(`${m.mountPath}/`));
    expect(mounts.map((m) => m.name)).toEqual(["index"]);
    for (const { container } of containers) expect(container.image).toBe("orderflow");
    expect(kustomization.images).toEqual([{ name: "orderflow", newTag: VERSION }]);
  });

  it("passes only flags, choices and environment variables the CLI has", () => {
    for (const { container } of containers) {
      const args = container.args as string[];
      const known = [...GLOBAL_OPTIONS, ...(COMMAND_OPTIONS[args[0]!] ?? [])];
      expect(COMMAND_OPTIONS[args[0]!], `command ${args[0]}`).toBeDefined();
      for (const [i, a] of args.entries()) {
        if (!a.startsWith("-")) continue;
        const option = known.find((o) => o.flags.includes(a));
        expect(option, `${container.name}: ${a} is not a flag of orderflow ${args[0]}`).toBeDefined();
        if (option?.choices) expect(option.choices, `${container.name} ${a}`).toContain(args[i + 1]);
      }
      const envs = new Set(known.map((o) => o.env).filter(Boolean));
      for (const name of containerEnv(container).keys()) {
        const ok = envs.has(name) || NODE_ENV_NAMES.has(name);
        expect(ok, `${container.name}: orderflow ${args[0]} reads no ${name}`).toBe(true);
      }
    }
    // `up --workers` takes a list; its help names the parts.
    const parts = /parts run in this process \(([a-z,]+), or none\)/.exec(
      spawnSync(process.execPath, [CLI, "up", "--help"], { encoding: "utf8" }).stdout.replace(/\s+/g, " "),
    );
    const dashboard = containers.find(({ container }) => container.args[0] === "up")!.container;
    for (const part of flagValue(dashboard.args, "--workers")!.split(",")) {
      expect(parts?.[1]?.split(",")).toContain(part);
    }
  });

  it("probes /healthz and /readyz on the image's metrics port, named metrics", () => {
    const port = IMAGE_METRICS_PORT;
    expect(Number(ENV_CONFIG.ORDERFLOW_METRICS_PORT)).toBe(port);
    expect(ENV_CONFIG.ORDERFLOW_METRICS_HOST).toBe(IMAGE_METRICS_HOST);
    // Probes come from the kubelet, off the pod's loopback.
    expect(IMAGE_METRICS_HOST).toBe("0.0.0.0");
    for (const { container } of containers) {
      const metrics = (container.ports as Obj[]).find((p) => p.name === "metrics");
      expect(metrics?.containerPort, container.name).toBe(port);
      expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "metrics" });
      expect(container.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "metrics" });
      if (container.startupProbe) expect(container.startupProbe.httpGet.path).toBe("/healthz");
      expect(containerEnv(container).has("ORDERFLOW_METRICS_PORT"), container.name).toBe(true);
    }
  });

  it("connects each part as its deploy/nats-server.conf user, below that user's inbox prefix", () => {
    const users = confUsers();
    expect([...users.keys()]).toEqual(["admin", "intake", "processor", "dispatcher", "monitor"]);
    const expectedUser: Record<string, string> = { processor: "processor", dispatcher: "dispatcher" };
    for (const { container } of containers) {
      const env = containerEnv(container);
      const user = env.get("NATS_USER")!;
      expect(user, container.name).toBe(expectedUser[stageOf(container) ?? ""] ?? "monitor");
      expect(users.has(user)).toBe(true);
      expect(env.has("NATS_PASSWORD"), `${container.name}: NATS_PASSWORD`).toBe(true);
      const prefix = flagValue(container.args, "--inbox-prefix");
      expect(prefix).toBe(`_INBOX_${user}`);
      // The conf lets that user subscribe below exactly this prefix.
      expect(SERVER_CONF).toMatch(
        new RegExp(`subscribe: \\{ allow: \\["${prefix}\\.>"\\] \\}|"${prefix}\\.>"`),
      );
      expect(ENV_CONFIG.NATS_URL).toMatch(/^nats:\/\/[a-z.-]+:4222$/);
    }
    // Each NATS secret carries one user, named after it; only users the conf has.
    for (const g of kustomization.secretGenerator as Obj[]) {
      const m = /^orderflow-nats-(\w+)$/.exec(g.name);
      if (!m) continue;
      expect(generator("secretGenerator", g.name).literals.NATS_USER).toBe(m[1]);
      expect(g.envs).toEqual([`credentials/${m[1]}.env`]);
      expect(documentedEnvKeys(`credentials/${m[1]}.env`)).toEqual(["NATS_PASSWORD"]);
    }
    expect(documentedEnvKeys("credentials/dashboard.env").sort()).toEqual([
      "ORDERFLOW_DASHBOARD_READONLY_TOKEN",
      "ORDERFLOW_DASHBOARD_TOKEN",
    ]);
  });

  it("gives each pod a grace period longer than its drain", () => {
    const o = DEFAULT_STAGE_WORKER_OPTIONS;
    for (const d of deployments) {
      for (const c of d.spec.template.spec.containers as Obj[]) {
        const given = flagValue(c.args, "--drain-timeout");
        const drainMs = given ? durationFlag("drain-timeout")(given) : o.drainTimeoutMs;
        // Handlers finish (drain), open pull requests expire, the last PubAcks come back.
        const stopMs = drainMs + o.pullExpiresMs + o.pubAckTimeoutMs;
        expect(d.spec.template.spec.terminationGracePeriodSeconds * 1000, d.metadata.name).toBeGreaterThan(
          stopMs,
        );
      }
    }
  });

  it("runs as the image's user, not root, on a read-only root filesystem with a tmp emptyDir", () => {
    for (const d of deployments) {
      const pod = d.spec.template.spec;
      expect(pod.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: IMAGE_UID,
        runAsGroup: IMAGE_UID,
      });
      for (const c of pod.containers as Obj[]) {
        expect(c.securityContext).toMatchObject({
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
        });
        const tmp = (c.volumeMounts as Obj[]).find((m) => m.mountPath === "/tmp");
        expect(
          (pod.volumes as Obj[]).find((v) => v.name === tmp?.name)?.emptyDir,
          d.metadata.name,
        ).toBeDefined();
        expect(c.resources.requests.cpu).toBeDefined();
        expect(c.resources.limits.memory).toBeDefined();
      }
    }
  });

  it("covers every Deployment with a disruption budget, the pod monitor and (stages) a scaler", () => {
    const labelsOf = (d: Obj) => d.spec.template.metadata.labels as Record<string, string>;
    const selects = (sel: Obj, labels: Record<string, string>) =>
      Object.entries(sel.matchLabels as Record<string, string>).every(([k, v]) => labels[k] === v);
    const pdbs = byKind("PodDisruptionBudget");
    const monitor = byKind("PodMonitor")[0]!;
    expect(monitor.spec.podMetricsEndpoints).toEqual([
      expect.objectContaining({ port: "metrics", path: "/metrics" }),
    ]);
    for (const d of deployments) {
      expect(selects(d.spec.selector, labelsOf(d)), d.metadata.name).toBe(true);
      expect(pdbs.filter((p) => selects(p.spec.selector, labelsOf(d))).length, d.metadata.name).toBe(1);
      expect(selects(monitor.spec.selector, labelsOf(d)), d.metadata.name).toBe(true);
    }
    for (const svc of byKind("Service")) {
      const target = deployments.find((d) => selects({ matchLabels: svc.spec.selector }, labelsOf(d)))!;
      const names = (target.spec.template.spec.containers as Obj[]).flatMap((c) =>
        (c.ports as Obj[]).map((p) => p.name),
      );
      for (const p of svc.spec.ports as Obj[]) expect(names).toContain(p.targetPort);
    }
  });

  it("scales each stage on its own consumer's backlog, as topology/spec.ts names them", () => {
    const consumerOf: Record<string, string> = {
      processor: DEFAULT_TOPOLOGY.newConsumer,
      dispatcher: DEFAULT_TOPOLOGY.dispatchConsumer,
    };
    const scalers = byKind("ScaledObject");
    const stages = containers.map(({ container }) => stageOf(container)).filter(Boolean);
    expect(scalers).toHaveLength(stages.length);
    const natsHost = new URL(ENV_CONFIG.NATS_URL!).hostname.split("."); // <release>.<namespace>.svc…
    for (const so of scalers) {
      const target = containers.find(
        ({ deployment }) => deployment.metadata.name === so.spec.scaleTargetRef.name,
      );
      expect(target, so.metadata.name).toBeDefined();
      expect(target!.deployment.spec.replicas, "KEDA owns the replica count").toBeUndefined();
      const stage = stageOf(target!.container)!;
      expect(so.spec.triggers).toHaveLength(1);
      const t = so.spec.triggers[0] as Obj;
      expect(t.type).toBe("nats-jetstream");
      expect(t.metadata).toMatchObject({
        account: confAccount(),
        stream: DEFAULT_TOPOLOGY.stream,
        consumer: consumerOf[stage],
      });
      // The chart's headless Service of the release NATS_URL points at, on its monitoring port.
      expect(t.metadata.natsServerMonitoringEndpoint).toBe(
        `${natsHost[0]}-headless.${natsHost[1]}.svc.cluster.local:${values.config.monitor.port}`,
      );
      expect(Number(t.metadata.lagThreshold)).toBeGreaterThan(SEED.maxAckPending);
      expect(so.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
      // Past max ack pending ÷ batch, a worker holds less than one batch of the stage's in-flight orders.
      const batch = Number(
        flagValue(target!.container.args, "--batch") ?? DEFAULT_STAGE_WORKER_OPTIONS.batch,
      );
      expect(so.spec.maxReplicaCount).toBeLessThanOrEqual(SEED.maxAckPending / batch);
    }
  });
});

describe("deploy/k8s/nats-values.yaml (the official NATS chart)", () => {
  it("declares the account, users and permissions of deploy/nats-server.conf, in its order", () => {
    const users = values.config.merge.accounts[confAccount()].users as Obj[];
    const conf = confUsers();
    expect(users.map((u) => u.user)).toEqual([...conf.keys()]);
    for (const u of users) expect(u.password).toBe(`<< $${conf.get(u.user)} >>`);
    const ours = valuesPermissionSubjects();
    const theirs = confPermissionSubjects();
    const first = theirs.findIndex((subject, i) => ours[i] !== subject);
    expect(
      { first, length: ours.length },
      `subject #${first}: nats-values.yaml has ${ours[first]}, deploy/nats-server.conf ${theirs[first]}`,
    ).toEqual({ first: -1, length: theirs.length });
  });

  it("takes each password variable from the Secret, under its own name", () => {
    const env = values.container.env as Obj;
    expect(Object.keys(env).sort()).toEqual([...confUsers().values()].sort());
    for (const [name, v] of Object.entries(env)) {
      expect(v.valueFrom.secretKeyRef).toEqual({ name: "orderflow-nats-passwords", key: name });
      expect(FLEET_DOC, "docs/fleet.md creates the Secret's keys").toContain(`--from-literal=${name}=`);
    }
    expect(values.config).toMatchObject({
      cluster: { enabled: true, replicas: 3 },
      jetstream: { enabled: true },
    });
  });

  it("renders a config nats-server accepts", () => {
    // What the chart writes from `merge`: JSON (valid nats-server config), `<< x >>` unquoted.
    const merged = {
      ...values.config.merge,
      jetstream: testServerAtLeast("2.10.0") ? values.config.jetstream.merge : {},
    };
    const conf = JSON.stringify(merged, null, 2).replace(/"<< (.*?) >>"/g, "$1");
    const dir = mkdtempSync(join(tmpdir(), "orderflow-k8s-"));
    try {
      writeFileSync(join(dir, "nats.conf"), conf);
      const passwords = Object.fromEntries(
        [...confUsers().values()].map((v) => [v, `p${v.toLowerCase()}42`]),
      );
      const r = spawnSync(findNatsServerBinary(), ["-t", "-c", join(dir, "nats.conf")], {
        env: { ...process.env, ...passwords },
        encoding: "utf8",
      });
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// kubectl (with its built-in kustomize) is optional: where it is installed, the rendered output is
// validated too, with generated names and the namespace applied.
const kubectl = spawnSync("kubectl", ["version", "--client"], { encoding: "utf8" }).status === 0;
if (!kubectl) process.stderr.write("skipping `kubectl kustomize deploy/k8s`: kubectl not found\n");

describe.skipIf(!kubectl)("kubectl kustomize deploy/k8s", () => {
  it("renders objects that validate, in namespace orderflow, with the versioned image", () => {
    const dir = mkdtempSync(join(tmpdir(), "orderflow-kustomize-"));
    try {
      cpSync(K8S, dir, { recursive: true });
      for (const g of [...(kustomization.secretGenerator as Obj[])]) {
        for (const f of (g.envs as string[] | undefined) ?? []) {
          writeFileSync(
            join(dir, f),
            documentedEnvKeys(f)
              .map((k) => `${k}=pplaceholder\n`)
              .join(""),
          );
        }
      }
      const r = spawnSync("kubectl", ["kustomize", dir], { encoding: "utf8", timeout: 30_000 });
      expect(r.status, r.stderr).toBe(0);
      const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj);
      for (const doc of docs) {
        validate(doc);
        if (doc.kind !== "Namespace") expect(doc.metadata.namespace).toBe("orderflow");
      }
      const images = docs
        .filter((d) => d.kind === "Deployment")
        .flatMap((d) => (d.spec.template.spec.containers as Obj[]).map((c) => c.image));
      expect(new Set(images)).toEqual(new Set([`orderflow:${VERSION}`]));
      // Generated names carry a hash; every reference to them was rewritten.
      const generated = new Set(
        docs.filter((d) => d.kind === "Secret" || d.kind === "ConfigMap").map((d) => d.metadata.name),
      );
      for (const d of docs.filter((x) => x.kind === "Deployment")) {
        for (const c of d.spec.template.spec.containers as Obj[]) {
          for (const from of c.envFrom as Obj[])
            expect(generated).toContain((from.configMapRef ?? from.secretRef).name);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
