import { stat } from "node:fs/promises";
import { extname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { errorMessage, HandlerModuleError } from "../common/errors.js";
import { describeLoadFailure } from "./handler-load-failure.js";
import { defineStage, type StageDefinition } from "./stage.js";

const TYPESCRIPT = new Set([".ts", ".mts", ".cts"]);
const STAGE_FIELDS = ["name", "consumer", "outputSubject", "outputStage", "parse", "handle"] as const;

type Namespace = Record<string, unknown>;

/**
 * Loads a `--handler` module and returns the stage to run. A module exports either a handler,
 * `(order, ctx) => output` as its default export or as `handle`, which replaces `base`'s
 * transformation and keeps its consumer, output subject, parsing and message ids; or a whole stage
 * definition as its default export. TypeScript files load through tsx's loader, all with import().
 * Every problem is one HandlerModuleError naming the file, raised before anything is pulled.
 */
export async function loadHandlerModule(file: string, base: StageDefinition): Promise<StageDefinition> {
  const path = resolve(file);
  const found = await stat(path).catch(() => undefined);
  if (!found?.isFile()) {
    throw new HandlerModuleError(file, "no such file", {
      hint: "give the path of a .js, .mjs or .ts module (relative to the working directory)",
    });
  }
  const ns = await importModule(file, path);
  const picked = pick(ns) ?? (isObject(ns.default) ? pick(ns.default as Namespace) : undefined);
  if (!picked) {
    throw new HandlerModuleError(file, "exports no handler function", {
      hint: "export default async function (order, ctx) { … }, export a function named handle, or export default defineStage({ … })",
    });
  }
  if (typeof picked === "function") {
    const handle = picked as StageDefinition["handle"];
    // Two parameters, whatever the module declares: the worker builds a context only for those.
    return defineStage({ ...base, handle: (order, ctx) => handle(order, ctx) });
  }
  try {
    return defineStage(picked);
  } catch (err) {
    throw new HandlerModuleError(file, `its stage definition is incomplete: ${errorMessage(err)}`, {
      hint: `a stage definition has ${STAGE_FIELDS.join(", ")}`,
    });
  }
}

async function importModule(file: string, path: string): Promise<Namespace> {
  try {
    return await importUserModule(path);
  } catch (err) {
    const { problem, hint } = await describeLoadFailure(path, err);
    throw new HandlerModuleError(file, problem, { hint, cause: err });
  }
}

/**
 * Imports a team's module by absolute path: `.ts`/`.mts`/`.cts` through tsx, registered on first
 * use; `.js`/`.mjs`/`.cjs` as they are. Handler modules and pipeline files both come this way.
 */
export async function importUserModule(path: string): Promise<Namespace> {
  if (TYPESCRIPT.has(extname(path))) await registerTypeScript();
  return (await import(pathToFileURL(path).href)) as Namespace;
}

let typescript: Promise<void> | undefined;

/**
 * tsx's loader, registered for the whole process, once, and only when a TypeScript module is asked
 * for (plain JavaScript handlers and the built-in stages never load esbuild). Not tsImport(): it
 * loads a module's imports under a namespace of their own, so `import … from "orderflow"` in the
 * handler got a second copy of orderflow, whose classes are not the worker's. The CommonJS hook is
 * for a `.ts` handler in a package without `"type": "module"`, which Node treats as CommonJS.
 */
function registerTypeScript(): Promise<void> {
  typescript ??= (async () => {
    const [esm, cjs] = await Promise.all([import("tsx/esm/api"), import("tsx/cjs/api")]);
    esm.register();
    cjs.register();
  })();
  return typescript;
}

/** The handler function or the stage definition a namespace exports, if any. */
function pick(ns: Namespace): StageDefinition | ((...args: never[]) => unknown) | undefined {
  if (typeof ns.default === "function") return ns.default as (...args: never[]) => unknown;
  if (typeof ns.handle === "function" && !isStage(ns)) return ns.handle as (...args: never[]) => unknown;
  if (isStage(ns.default)) return ns.default as StageDefinition;
  return undefined;
}

function isStage(v: unknown): boolean {
  return isObject(v) && typeof (v as Namespace).handle === "function" && "consumer" in (v as Namespace);
}

function isObject(v: unknown): v is object {
  return typeof v === "object" && v !== null;
}
