import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BackgroundCli, startCli } from "./background-cli.js";
import { waitFor } from "./wait.js";

export const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Writes a handler module into a fresh temp directory; returns its path. */
export function tempModule(name: string, source: string): string {
  const dir = mkdtempSync(join(tmpdir(), "orderflow-handler-"));
  const file = join(dir, name);
  writeFileSync(file, source);
  return file;
}

/** Starts `orderflow worker processor` with the given args and waits for its start line. */
export async function startProcessor(
  url: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<BackgroundCli> {
  const p = startCli(["worker", "processor", "-s", url, ...args], { ORDERFLOW_LOG_LEVEL: "info", ...env });
  await waitFor("the worker's start line", () => {
    if (p.child.exitCode !== null) throw new Error(`worker exited:\n${p.stderr()}`);
    return p.stderr().includes('"processor started"');
  });
  return p;
}

/** The JSON log lines a worker wrote to stderr. */
export function logLines(p: BackgroundCli): Array<Record<string, unknown>> {
  return p
    .stderr()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
