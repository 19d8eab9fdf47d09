import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it, onTestFinished } from "vitest";

const run = promisify(execFile);
const root = join(import.meta.dirname, "../..");
const depcruise = join(root, "node_modules/.bin/depcruise");

/** depcruise with the project's rules over a small tree of its own: exit code and output. */
async function cruise(files: Record<string, string>): Promise<{ code: number; out: string }> {
  const dir = mkdtempSync(join(tmpdir(), "orderflow-layers-"));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(root, ".dependency-cruiser.cjs"), join(dir, ".dependency-cruiser.cjs"));
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { module: "nodenext" } }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  try {
    const r = await run(depcruise, ["src", "--config", ".dependency-cruiser.cjs"], { cwd: dir });
    return { code: 0, out: r.stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, out: e.stdout };
  }
}

describe("layers (npm run lint runs the same rules over src/)", () => {
  it("refuse an import from a lower layer up into a higher one", async () => {
    const r = await cruise({
      "src/common/a.ts": 'import { b } from "../cli/b.js";\nexport const a = b;\n',
      "src/cli/b.ts": "export const b = 1;\n",
    });
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("layer-common");
  });

  it("refuse an import between peers of one level", async () => {
    const r = await cruise({
      "src/monitor/a.ts": 'import { b } from "../orders/b.js";\nexport const a = b;\n',
      "src/orders/b.ts": "export const b = 1;\n",
    });
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("layer-monitor");
  });

  it("allow an import from below", async () => {
    const r = await cruise({
      "src/cli/a.ts": 'import { b } from "../common/b.js";\nexport const a = b;\n',
      "src/common/b.ts": "export const b = 1;\n",
    });
    expect(r).toEqual({ code: 0, out: expect.stringContaining("no dependency violations") });
  });
});
