import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { errorMessage, SeedMissingError, UsageError } from "../common/errors.js";

/**
 * The seed tutorial's two Go programs as text: where the tutorial is, each program's code block,
 * and the one change made to it (the server address). Building is seed-build.ts, running seed-worker.ts.
 */

/** The seed's program headings (`### order-processed`, `### order-completed`). */
export const SeedProgram = {
  Processed: "order-processed",
  Completed: "order-completed",
} as const;
export type SeedProgram = (typeof SeedProgram)[keyof typeof SeedProgram];

/** The one literal we change: the seed connects to a fixed address, tests and benches use their own. */
export const SEED_CONNECT_LITERAL = 'nats.Connect("localhost:4222")';
export const SEED_CONNECT_REPLACEMENT = 'nats.Connect(os.Getenv("NATS_URL"))';

const SEED_FILE_NAME = "000_735682c9d9478ddd.txt";
export const SEED_FILE_HINT = `point ORDERFLOW_SEED_FILE at the seed tutorial (shared/seed/${SEED_FILE_NAME})`;

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
