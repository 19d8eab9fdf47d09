import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { access, mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import { ErrorCode, errorMessage, OrderflowError } from "../common/errors.js";
import { findExecutable } from "../common/find-executable.js";
import {
  extractSeedProgram,
  patchSeedConnect,
  readSeed,
  SEED_FILE_HINT,
  type SeedGoOptions,
  type SeedProgram,
  seedGoOptions,
} from "./seed-source.js";

/**
 * The Go toolchain for the seed's programs and their build cache. Only Debian packages are needed:
 * the Go module proxy is not used (GOPATH mode over the sources `golang-github-nats-io-go-nats-dev`
 * installs), and a binary is reused while source and toolchain are the same.
 */

export const SEED_INSTALL_HINT =
  "install them: apt-get install -y golang-go golang-github-nats-io-go-nats-dev";

const NATS_GO_PACKAGE = join("src", "github.com", "nats-io", "nats.go");
const DEBIAN_GOPATH = "/usr/share/gocode";
const GO_FALLBACKS = ["/usr/lib/go/bin/go", "/usr/local/go/bin/go"];

const run = promisify(execFile);

export interface SeedToolchain {
  /** The `go` binary. */
  go: string;
  /** `go1.19.8`, … */
  goVersion: string;
  /** The GOPATH entry that holds nats.go (Debian: /usr/share/gocode). */
  gopath: string;
  /** nats.go's `Version` constant, `1.22.1`, … */
  natsGoVersion: string;
}

/** Finds `go` and the nats.go sources, or says in one line what to install. */
export async function findSeedToolchain(env: NodeJS.ProcessEnv = process.env): Promise<SeedToolchain> {
  const go = findGo(env);
  const gopath = await findNatsGo([...(env.GOPATH ?? "").split(delimiter).filter(Boolean), DEBIAN_GOPATH]);
  const natsGo = await readFile(join(gopath, NATS_GO_PACKAGE, "nats.go"), "utf8");
  const natsGoVersion = /\bVersion\s*=\s*"([^"]+)"/.exec(natsGo)?.[1] ?? "unknown";
  const { stdout } = await run(go, ["env", "GOVERSION"], { env: goEnv(env, gopath) });
  return { go, goVersion: stdout.trim(), gopath, natsGoVersion };
}

/** The `go` on PATH, else in the usual install places (`fallbacks`). */
export function findGo(env: NodeJS.ProcessEnv, fallbacks: readonly string[] = GO_FALLBACKS): string {
  const { path } = findExecutable("go", { env, fallbacks });
  if (path) return path;
  throw new OrderflowError(ErrorCode.Internal, "the Go toolchain (`go`) is not installed", {
    hint: SEED_INSTALL_HINT,
  });
}

/** The first GOPATH entry holding nats.go with JetStream (js.go). */
export async function findNatsGo(gopaths: readonly string[]): Promise<string> {
  for (const p of gopaths) {
    if (await exists(join(p, NATS_GO_PACKAGE, "js.go"))) return p;
  }
  throw new OrderflowError(
    ErrorCode.Internal,
    `the nats.go sources are not installed (looked in ${gopaths.map((p) => join(p, NATS_GO_PACKAGE)).join(", ")})`,
    { hint: SEED_INSTALL_HINT },
  );
}

/** GOPATH mode over the installed sources: no module proxy, no network, whatever the caller's Go env says. */
function goEnv(env: NodeJS.ProcessEnv, gopath: string, cacheDir?: string): NodeJS.ProcessEnv {
  return {
    ...env,
    GO111MODULE: "off",
    GOPATH: gopath,
    GOFLAGS: "",
    GOPROXY: "off",
    ...(cacheDir && !env.GOCACHE ? { GOCACHE: join(cacheDir, "gocache") } : {}),
  };
}

export interface SeedBuild {
  program: SeedProgram;
  /** The executable; run it with `NATS_URL` set (see {@link SeedWorker}). */
  binary: string;
  /** True when an earlier build of the same source with the same toolchain was reused. */
  cached: boolean;
  /** Time `go build` took, ms (0 when cached). */
  buildMs: number;
  toolchain: SeedToolchain;
}

/** Extracts, patches and builds one seed program, reusing an identical earlier build. */
export async function buildSeedWorker(
  program: SeedProgram,
  overrides: Partial<SeedGoOptions> = {},
): Promise<SeedBuild> {
  const opts = seedGoOptions(overrides);
  // The seed first: without it nothing can be built, whatever the toolchain.
  const seedText = await readSeed(opts);
  const toolchain = await findSeedToolchain(opts.env);
  const source = patchSeedConnect(extractSeedProgram(seedText, program), program);
  const hash = createHash("sha256")
    .update([source, toolchain.goVersion, toolchain.gopath, toolchain.natsGoVersion].join("\0"))
    .digest("hex")
    .slice(0, 16);
  const binary = join(opts.cacheDir, `${program}-${hash}`);
  if (await exists(binary, constants.X_OK)) return { program, binary, cached: true, buildMs: 0, toolchain };

  await mkdir(opts.cacheDir, { recursive: true });
  const work = await mkdtemp(join(opts.cacheDir, `build-${program}-`));
  try {
    await writeFile(join(work, "main.go"), source);
    const started = performance.now();
    try {
      await run(toolchain.go, ["build", "-o", join(work, program), "main.go"], {
        cwd: work,
        env: goEnv(opts.env, toolchain.gopath, opts.cacheDir),
        timeout: opts.buildTimeoutMs,
      });
    } catch (err) {
      const stderr = String((err as { stderr?: unknown }).stderr ?? "").trim();
      const first = stderr.split("\n").find((l) => l && !l.startsWith("#")) ?? errorMessage(err);
      // Go and nats.go were found above, so the likely causes are a nats.go too old for the
      // seed's JetStream calls or a seed code block that no longer compiles, not a missing install.
      throw new OrderflowError(ErrorCode.Internal, `go build of the seed's ${program} failed: ${first}`, {
        hint: `check that the nats.go in ${toolchain.gopath} (${toolchain.natsGoVersion}) has JetStream pull subscriptions (Debian's golang-github-nats-io-go-nats-dev does) and that the seed's ${program} block is intact (${SEED_FILE_HINT})`,
        cause: err,
      });
    }
    const buildMs = performance.now() - started;
    // A rename is atomic, so a concurrent build of the same hash cannot leave a half-written binary.
    await rename(join(work, program), binary);
    return { program, binary, cached: false, buildMs, toolchain };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function exists(path: string, mode = constants.F_OK): Promise<boolean> {
  try {
    await access(path, mode);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}
