import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { dirname, extname, join } from "node:path";
import { errorMessage } from "../common/errors.js";

/** Why a handler module did not load, as an operator reads it: the problem and how to fix it. */
export interface HandlerLoadFailure {
  /** One line; for a syntax error it names file:line(:column) and the compiler's message. */
  problem: string;
  hint: string;
}

const SEE_WHOLE_ERROR = "run it with node (or npx tsx) on its own to see the whole error";
const ESM_IN_COMMONJS =
  /Cannot use import statement outside a module|Unexpected token 'export'|require\(\) of ES Module/;

/**
 * Turns what import() threw into one line. esbuild (through tsx) says only "Transform failed
 * with 1 error:" on its first line, the location is on the next ones; Node's SyntaxError for a
 * JavaScript module carries no location at all, so the file is checked again with `node --check`,
 * which prints `file:line` first (only on this failure path, so a good module costs nothing).
 */
export async function describeLoadFailure(path: string, err: unknown): Promise<HandlerLoadFailure> {
  const message = errorMessage(err);
  const compiler = compilerErrors(message);
  if (compiler) return { problem: `syntax error: ${compiler}`, hint: "fix the module and start again" };
  if (err instanceof SyntaxError) {
    const where = await syntaxLocation(path);
    // No location: the module parses, and its code threw a SyntaxError while running (JSON.parse, say).
    const problem = where ? `syntax error at ${where}: ${message}` : `failed to load: ${firstLine(message)}`;
    if (ESM_IN_COMMONJS.test(message)) return { problem, hint: await moduleKindHint(path) };
    return { problem, hint: where ? "fix the module and start again" : SEE_WHOLE_ERROR };
  }
  if (ESM_IN_COMMONJS.test(message)) {
    return { problem: `failed to load: ${firstLine(message)}`, hint: await moduleKindHint(path) };
  }
  return { problem: `failed to load: ${firstLine(message)}`, hint: SEE_WHOLE_ERROR };
}

/** esbuild's `file:line:column: ERROR: message` lines, joined; undefined for any other error. */
function compilerErrors(message: string): string | undefined {
  if (!/^Transform failed with \d+ errors?:/.test(message)) return undefined;
  const lines = message
    .split("\n")
    .slice(1)
    .map((l) => l.trim())
    .filter((l) => l !== "");
  return lines.length > 0 ? lines.slice(0, 2).join("; ") : undefined;
}

/** `file:line` of the first syntax error Node finds, or undefined when `node --check` names none. */
function syntaxLocation(path: string): Promise<string | undefined> {
  // TypeScript is compiled by esbuild, whose errors carry their location; `node --check` on a .ts
  // file would judge it as Node's own type stripping does (no enums, no parameter properties).
  if (/\.[cm]?ts$/.test(path)) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const args = ["--no-warnings", "--check", path];
    execFile(process.execPath, args, { timeout: 10_000 }, (_error, _stdout, stderr) => {
      // The exit status is the point of the check, not a failure of it: read the location whatever it is.
      const where = String(stderr)
        .split("\n")
        .find((l) => l.startsWith(path) && /:\d+$/.test(l));
      resolve(where);
    });
  });
}

/**
 * A `.js` module is CommonJS unless the nearest package.json says `"type": "module"`: an ES module
 * named `.js` in a default `npm init` folder is the usual cause.
 */
async function moduleKindHint(path: string): Promise<string> {
  const ext = extname(path);
  if (ext === ".cjs" || ext === ".cts") {
    return "this file is CommonJS by its extension: use require(), or rename it to .mjs / .mts for import/export";
  }
  const pkg = await nearestPackageType(dirname(path));
  if (pkg.unreadable) {
    return `${pkg.unreadable.file} cannot be read (${pkg.unreadable.problem}), so Node cannot tell whether .js is an ES module: fix it, or rename the handler to .mjs`;
  }
  if (pkg.type === "module") {
    return 'this folder\'s package.json has "type": "module": use import/export, or rename the file to .cjs for require()';
  }
  return 'this folder is CommonJS (its package.json has no "type": "module"): rename the handler to .mjs (or .mts), add "type": "module" to package.json, or use require()';
}

interface PackageType {
  /** The nearest package.json's `type`; undefined (CommonJS) when it has none or there is none. */
  type?: string;
  unreadable?: { file: string; problem: string };
}

/** The `type` of the package.json Node consults for a file in `dir`: the nearest one above it. */
async function nearestPackageType(dir: string): Promise<PackageType> {
  for (let at = dir; ; at = dirname(at)) {
    const file = join(at, "package.json");
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      // None here: Node looks one folder up, and so do we. Anything else is worth saying.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR")
        return { unreadable: { file, problem: errorMessage(err) } };
      if (dirname(at) === at) return {};
      continue;
    }
    try {
      return { type: (JSON.parse(text) as { type?: string }).type };
    } catch (err) {
      return { unreadable: { file, problem: errorMessage(err) } };
    }
  }
}

function firstLine(s: string): string {
  return s.split("\n", 1)[0] ?? s;
}
