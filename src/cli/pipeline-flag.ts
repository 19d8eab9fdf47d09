import { type Command, Option } from "commander";
import { findPipelineFile, loadPipelineFile, type PipelineFile } from "../runtime/pipeline-file.js";

/** `--config <file>` / ORDERFLOW_CONFIG: the pipeline file every command reads (docs/pipeline.md). */
export function addPipelineOption(program: Command): Command {
  return program.addOption(
    new Option(
      "--config <file>",
      "pipeline file: the stream and the stages (default: orderflow.config.{ts,mts,js,mjs,json,yaml,yml} here, else the seed's pipeline)",
    ).env("ORDERFLOW_CONFIG"),
  );
}

let loaded: PipelineFile | undefined;

/** The pipeline file the running command was given or found; undefined: the seed's pipeline. */
export function pipelineFile(): PipelineFile | undefined {
  return loaded;
}

/**
 * Reads the pipeline file before any command's action runs (a commander preAction hook), so every
 * command sees the same stages and a broken file stops the command before it connects.
 */
export function readPipelineBeforeAction(program: Command): Command {
  return program.hook("preAction", async (_root, action) => {
    const given = action.optsWithGlobals<{ config?: string }>().config;
    const file = await findPipelineFile(given);
    loaded = file === undefined ? undefined : await loadPipelineFile(file);
  });
}
