import { readFileSync } from "node:fs";

/**
 * orderflow's own version, read once from the package.json beside dist/ (it ships in every
 * install), so `--version`, consumer metadata and build info never disagree with the package.
 */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
).version;
