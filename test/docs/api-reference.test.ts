import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it, onTestFinished } from "vitest";

const run = promisify(execFile);
const root = join(import.meta.dirname, "../..");
const typedoc = join(root, "node_modules/.bin/typedoc");

/** Every file under `dir`, by its path relative to `dir`, with its text. */
function tree(dir: string): Map<string, string> {
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  return new Map(
    files.map((e) => {
      const path = join(e.parentPath, e.name);
      return [relative(dir, path), readFileSync(path, "utf8")] as const;
    }),
  );
}

describe("the API reference (docs/api, from the doc comments by `npm run docs`)", () => {
  it("generates without a TypeDoc warning and matches the checked-in copy", async () => {
    const out = mkdtempSync(join(tmpdir(), "orderflow-api-"));
    onTestFinished(() => rmSync(out, { recursive: true, force: true }));
    // typedoc.json treats warnings as errors: an unexported type in a signature fails the run.
    await run(typedoc, ["--out", out], { cwd: root });
    const generated = tree(out);
    const checkedIn = tree(join(root, "docs/api"));
    expect([...checkedIn.keys()].sort(), "files differ: run `npm run docs` and commit docs/api").toEqual(
      [...generated.keys()].sort(),
    );
    const stale = [...generated].filter(([path, text]) => checkedIn.get(path) !== text).map(([p]) => p);
    expect(stale, "stale pages: run `npm run docs` and commit docs/api").toEqual([]);
  }, 180_000);
});
