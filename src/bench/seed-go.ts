import { type ChildProcess, execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { access, mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { JetStreamManager } from "@nats-io/jetstream";
import { ErrorCode, errorMessage, OrderflowError, SeedMissingError, UsageError } from "../common/errors.js";
import { findExecutable } from "../common/find-executable.js";
import { LoggedChild, OutputWait } from "../common/logged-child.js";
import { sleep } from "../common/sleep.js";

/**
 * The seed tutorial's two Go programs, built from the seed text itself and run as child processes,
 * so orderflow's workers can be proven (and benchmarked) against the real thing rather than a
 * re-telling of it. Only Debian packages are needed: the Go module proxy is not used (GOPATH mode
 * over the sources `golang-github-nats-io-go-nats-dev` installs).
 */

/** The seed's program headings (`### order-processed`, `### order-completed`). */
export const SeedProgram = {
  Processed: "order-processed",
  Completed: "order-completed",
} as const;
export type SeedProgram = (typeof SeedProgram)[keyof typeof SeedProgram];

export const SEED_INSTALL_HINT =
  "install them: apt-get install -y golang-go golang-github-nats-io-go-nats-dev";

/** The one literal we change: the seed connects to a fixed address, tests and benches use their own. */
export const SEED_CONNECT_LITERAL = 'nats.Connect("localhost:4222")';
export const SEED_CONNECT_REPLACEMENT = 'nats.Connect(os.Getenv("NATS_URL"))';

/** Both programs log a line starting with this (开始处理…) before they subscribe. */
const SEED_START_TEXT = "开始处理";
const SEED_FILE_NAME = "000_735682c9d9478ddd.txt";
const NATS_GO_PACKAGE = join("src", "github.com", "nats-io", "nats.go");
const DEBIAN_GOPATH = "/usr/share/gocode";
const GO_FALLBACKS = ["/usr/lib/go/bin/go", "/usr/local/go/bin/go"];
const OUTPUT_LIMIT = 64 * 1024;
const SEED_FILE_HINT = `point ORDERFLOW_SEED_FILE at the seed tutorial (shared/seed/${SEED_FILE_NAME})`;

const run = promisify(execFile);

export interface SeedGoOptions {
  /** The seed tutorial. Default `$ORDERFLOW_SEED_FILE`, else `shared/seed/<seed>.txt` beside the repo. */
  seedFile: string;
  /** True when {@link seedFile} came from `$ORDERFLOW_SEED_FILE` (errors then name the variable's value). */
  seedFromEnv: boolean;
  /** Built binaries, named by a hash of source and toolchain. Default `<os tmpdir>/orderflow-seed-go`. */
  cacheDir: string;
  /** Longest one `go build` may take, ms. Default 300,000 (a cold build is a few seconds). */
  buildTimeoutMs: number;
  /** Environment for the toolchain search and the build (PATH, GOPATH, GOCACHE). Default process.env. */
  env: NodeJS.ProcessEnv;
}

export function seedGoOptions(overrides: Partial<SeedGoOptions> = {}): SeedGoOptions {
  const env = overrides.env ?? process.env;
  // src/bench and dist/bench are both two levels below the repo root.
  const besideRepo = fileURLToPath(new URL(`../../../shared/seed/${SEED_FILE_NAME}`, import.meta.url));
  const fromEnv = overrides.seedFile === undefined && Boolean(env.ORDERFLOW_SEED_FILE);
  return {
    seedFile: overrides.seedFile ?? (env.ORDERFLOW_SEED_FILE || besideRepo),
    seedFromEnv: overrides.seedFromEnv ?? fromEnv,
    cacheDir: overrides.cacheDir ?? join(tmpdir(), "orderflow-seed-go"),
    buildTimeoutMs: overrides.buildTimeoutMs ?? 300_000,
    env,
  };
}

/**
 * The seed tutorial's text. It is beside the repo only on the team's machines and in CI, so a
 * missing one is a {@link SeedMissingError} naming ORDERFLOW_SEED_FILE, not a bare ENOENT.
 */
export async function readSeed(overrides: Partial<SeedGoOptions> = {}): Promise<string> {
  const opts = seedGoOptions(overrides);
  try {
    return await readFile(opts.seedFile, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : errorMessage(err);
    throw new SeedMissingError(opts.seedFile, opts.seedFromEnv, reason, { cause: err });
  }
}

/** The source of one program: the fenced block right after its `### <program>` heading. */
export function extractSeedProgram(seedText: string, program: SeedProgram): string {
  const lines = seedText.split(/\r?\n/);
  const heading = lines.findIndex((l) => l.trim() === `### ${program}`);
  if (heading < 0) throw new UsageError(`the seed has no "### ${program}" heading`, { hint: SEED_FILE_HINT });
  let open = heading + 1;
  while (open < lines.length && lines[open]?.trim() === "") open++;
  if (!lines[open]?.startsWith("```")) {
    throw new UsageError(`the seed's "### ${program}" heading is not followed by a code block`, {
      hint: SEED_FILE_HINT,
    });
  }
  const close = lines.findIndex((l, i) => i > open && l.startsWith("```"));
  if (close < 0)
    throw new UsageError(`the seed's ${program} code block is not closed`, { hint: SEED_FILE_HINT });
  return `${lines.slice(open + 1, close).join("\n")}\n`;
}

/**
 * The seed's program with its one hard-coded address replaced by `$NATS_URL` (and `os` imported for
 * it). Nothing else changes: the pull loop, batch sizes, publish without Nats-Msg-Id and ignored
 * errors are the seed's behaviour and stay as they are.
 */
export function patchSeedConnect(source: string, program: SeedProgram): string {
  const count = source.split(SEED_CONNECT_LITERAL).length - 1;
  if (count !== 1) {
    throw new UsageError(`the seed's ${program} has ${count} ${SEED_CONNECT_LITERAL} calls, expected 1`, {
      hint: SEED_FILE_HINT,
    });
  }
  let out = source.replace(SEED_CONNECT_LITERAL, SEED_CONNECT_REPLACEMENT);
  if (!/^\s*"os"\s*$/m.test(out)) {
    out = out.replace(/^import \(\n/m, 'import (\n\t"os"\n');
    if (!out.includes('\t"os"\n')) {
      throw new UsageError(`the seed's ${program} has no import block to add "os" to`, {
        hint: SEED_FILE_HINT,
      });
    }
  }
  return `// Built by orderflow from the seed; only change: ${SEED_CONNECT_LITERAL} -> ${SEED_CONNECT_REPLACEMENT}.\n${out}`;
}

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

/**
 * One seed Go program running against `server` (passed as `NATS_URL`). The seed loops forever and
 * has no shutdown, so {@link stop} kills it. Its log (stderr; two lines per order) is kept, bounded.
 */
export class SeedWorker {
  private readonly process: LoggedChild;

  constructor(
    readonly program: SeedProgram,
    binary: string,
    server: string,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.process = new LoggedChild(binary, [], { env: { ...env, NATS_URL: server }, logLimit: OUTPUT_LIMIT });
  }

  get child(): ChildProcess {
    return this.process.child;
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get running(): boolean {
    return this.process.running;
  }

  /** The last 64 KiB of what the program wrote. */
  output(): string {
    return this.process.output();
  }

  exited(): Promise<number | null> {
    return this.process.exited;
  }

  /** Resolves on the seed's start line; it is logged before connecting succeeds, see {@link waitUntilPulling}. */
  async started(timeoutMs = 15_000): Promise<void> {
    const how = await this.process.waitForOutput(SEED_START_TEXT, timeoutMs);
    if (how !== OutputWait.Seen) throw this.notRunning("did not start");
  }

  /** SIGKILL and wait: the seed has no graceful stop (unacked orders are redelivered after ack wait). */
  async stop(): Promise<number | null> {
    return this.process.kill("SIGKILL");
  }

  notRunning(what: string): OrderflowError {
    return new OrderflowError(
      ErrorCode.Internal,
      `seed ${this.program} ${what}: ${this.process.lastLines(3) || "no output"}`,
    );
  }
}

/**
 * Resolves once `consumer` has an outstanding pull request (the seed's Fetch), failing if the worker
 * dies first: the seed ignores connect and subscribe errors and only crashes later.
 */
export async function waitUntilPulling(
  worker: SeedWorker,
  jsm: JetStreamManager,
  stream: string,
  consumer: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!worker.running) throw worker.notRunning("exited");
    const info = await jsm.consumers.info(stream, consumer);
    if (info.num_waiting > 0) return;
    if (Date.now() > deadline) throw worker.notRunning(`is not pulling from ${stream} > ${consumer}`);
    await sleep(20);
  }
}

/** Builds (or reuses) one seed program and starts it against `server`. */
export async function startSeedWorker(
  program: SeedProgram,
  server: string,
  overrides: Partial<SeedGoOptions> = {},
): Promise<SeedWorker> {
  const build = await buildSeedWorker(program, overrides);
  const worker = new SeedWorker(program, build.binary, server, overrides.env);
  try {
    await worker.started();
  } catch (err) {
    await worker.stop();
    throw err;
  }
  return worker;
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
