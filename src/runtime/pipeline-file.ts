import { readFile, stat } from "node:fs/promises";
import { basename, dirname, extname, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { errorMessage, PipelineFileError } from "../common/errors.js";
import { describeLoadFailure } from "../stages/handler-load-failure.js";
import { importUserModule } from "../stages/handler-module.js";
import { type DeclaredTopology, type PipelineConfig, parsePipelineConfig } from "./pipeline-schema.js";

/** The names looked for in the working directory, in this order, when no file is given. */
export const PIPELINE_FILE_NAMES: readonly string[] = [
  "orderflow.config.ts",
  "orderflow.config.mts",
  "orderflow.config.js",
  "orderflow.config.mjs",
  "orderflow.config.json",
  "orderflow.config.yaml",
  "orderflow.config.yml",
];

/** A pipeline file, read and validated. */
export interface PipelineFile {
  /** Its path as found or given. */
  file: string;
  topology: DeclaredTopology;
}

/**
 * The types of a TypeScript pipeline file: `export default definePipeline({ … })` gets the fields
 * checked by the editor; it returns its argument unchanged.
 */
export function definePipeline(config: PipelineConfig): PipelineConfig {
  return config;
}

/**
 * The pipeline file to use: the one given (`--config`, ORDERFLOW_CONFIG), else the first of
 * {@link PIPELINE_FILE_NAMES} in `cwd`, else none (the seed's pipeline).
 */
export async function findPipelineFile(
  given: string | undefined,
  cwd = process.cwd(),
): Promise<string | undefined> {
  if (given !== undefined && given !== "") {
    const found = await fileAt(given, resolve(cwd, given));
    if (!found) {
      throw new PipelineFileError(given, undefined, "no such file", {
        hint: "give the path of an orderflow.config.ts, .js, .json or .yaml file (docs/pipeline.md)",
      });
    }
    return given;
  }
  for (const name of PIPELINE_FILE_NAMES) {
    if (await fileAt(name, join(cwd, name))) return name;
  }
  return undefined;
}

/**
 * Whether a regular file is there. Only "not there" (ENOENT, ENOTDIR) is false: a file that exists
 * but cannot be read must stop the command, not leave it running the seed's pipeline unnoticed.
 */
async function fileAt(file: string, path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return false;
    throw new PipelineFileError(file, undefined, `cannot read it: ${errorMessage(err)}`, {
      hint: "check the file's permissions and the directories above it",
      cause: err,
    });
  }
}

/** Reads, parses and validates a pipeline file; every problem is one PipelineFileError line. */
export async function loadPipelineFile(file: string, cwd = process.cwd()): Promise<PipelineFile> {
  const path = resolve(cwd, file);
  const raw = await readRaw(file, path);
  const result = parsePipelineConfig(raw, dirname(path));
  if ("issues" in result) {
    const [first, ...rest] = result.issues;
    const more = rest.length > 0 ? ` (and ${rest.length} more problem${rest.length > 1 ? "s" : ""})` : "";
    throw new PipelineFileError(file, first?.path, `${first?.message ?? "not a pipeline"}${more}`, {
      hint: first?.hint,
    });
  }
  return { file, topology: result.topology };
}

async function readRaw(file: string, path: string): Promise<unknown> {
  const ext = extname(path).toLowerCase();
  if (ext === ".json" || ext === ".yaml" || ext === ".yml") {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      throw new PipelineFileError(file, undefined, `cannot read it: ${errorMessage(err)}`, { cause: err });
    }
    try {
      return ext === ".json" ? JSON.parse(text) : parseYaml(text);
    } catch (err) {
      throw new PipelineFileError(
        file,
        undefined,
        `is not valid ${ext === ".json" ? "JSON" : "YAML"}: ${firstLine(err)}`,
        {
          hint: "fix the syntax at the place named",
          cause: err,
        },
      );
    }
  }
  if (![".ts", ".mts", ".cts", ".js", ".mjs", ".cjs"].includes(ext)) {
    throw new PipelineFileError(file, undefined, `"${basename(path)}" is not a pipeline file`, {
      hint: "use .ts, .js, .mjs, .json, .yaml or .yml",
    });
  }
  let ns: Record<string, unknown>;
  try {
    ns = await importUserModule(path);
  } catch (err) {
    const { problem, hint } = await describeLoadFailure(path, err);
    throw new PipelineFileError(file, undefined, problem, { hint, cause: err });
  }
  const config = ns.default ?? ns.pipeline;
  if (config === undefined) {
    throw new PipelineFileError(file, undefined, "exports no pipeline", {
      hint: "export default definePipeline({ stages: [ … ] })",
    });
  }
  return config;
}

function firstLine(err: unknown): string {
  return errorMessage(err).split("\n")[0] ?? "";
}
