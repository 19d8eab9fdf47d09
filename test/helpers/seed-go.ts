import type { JetStreamManager } from "@nats-io/jetstream";
import { onTestFinished } from "vitest";
import {
  buildSeedWorker,
  findSeedToolchain,
  readSeed,
  type SeedBuild,
  SeedProgram,
  SeedWorker,
  waitUntilPulling,
} from "../../src/bench/seed-go.js";
import { errorMessage, OrderflowError } from "../../src/common/errors.js";

export { SeedProgram, SeedWorker };

/**
 * The seed's real Go programs for tests. They are extracted from the seed text at test time and
 * changed in one place only: `nats.Connect("localhost:4222")` becomes
 * `nats.Connect(os.Getenv("NATS_URL"))`, because each test runs its own server on a free port (see
 * patchSeedConnect in src/bench/seed-go.ts). The seed is `$ORDERFLOW_SEED_FILE`, else
 * `shared/seed/` beside the repo, as CI checks it out.
 */

/** CI runs with CI=true (any value but empty, "0" or "false" counts, as CI services set it). */
export const IN_CI = !["", "0", "false"].includes((process.env.CI ?? "").trim().toLowerCase());

/**
 * Whether the tests that build the seed's Go programs should be skipped here. A fresh clone has no
 * `../shared` beside it, and a fresh machine no Go: there they are skipped, with one line saying what
 * they need and how to provide it, so everything else still runs. Under CI they are never skipped
 * (a missing seed or toolchain must fail CI, not hide the interop proof), so they run and fail with
 * the same one line.
 */
export async function skipWithoutSeedGo(suite: string): Promise<boolean> {
  try {
    await readSeed();
    await findSeedToolchain();
    return false;
  } catch (err) {
    if (!(err instanceof OrderflowError)) throw err;
    if (IN_CI) return false;
    process.stderr.write(`${suite}: skipped the tests that build the seed's Go programs: ${err.oneLine()}\n`);
    return true;
  }
}

const builds = new Map<SeedProgram, Promise<SeedBuild>>();

/**
 * Builds a seed program once per test file (binaries are also cached by content hash under
 * os.tmpdir(), so later files and runs reuse them). A missing Go or nats.go fails the test with one
 * line naming the Debian packages to install (outside CI, {@link skipWithoutSeedGo} skips first).
 */
export function seedBuild(program: SeedProgram): Promise<SeedBuild> {
  let build = builds.get(program);
  if (!build) {
    build = buildSeedWorker(program).catch((err: unknown) => {
      const line = err instanceof OrderflowError ? err.oneLine() : errorMessage(err);
      throw new Error(`seed Go workers: ${line}`, { cause: err });
    });
    builds.set(program, build);
  }
  return build;
}

/**
 * Starts a built seed program against `url`, killed when the test ends (the seed loops forever).
 * With `pulling`, resolves only once it has a pull request open on its consumer: the seed ignores
 * connect and subscribe errors, so its start line alone proves little.
 */
export async function startSeedWorker(
  program: SeedProgram,
  url: string,
  pulling?: { jsm: JetStreamManager; consumer: string; stream?: string },
): Promise<SeedWorker> {
  const { binary } = await seedBuild(program);
  const worker = new SeedWorker(program, binary, url);
  onTestFinished(async (ctx) => {
    if (ctx.task.result?.state === "fail") {
      process.stderr.write(`--- seed ${program} output (tail) ---\n${worker.output().slice(-3000)}\n`);
    }
    await worker.stop();
  });
  await worker.started();
  if (pulling) await waitUntilPulling(worker, pulling.jsm, pulling.stream ?? "ORDERS", pulling.consumer);
  return worker;
}
