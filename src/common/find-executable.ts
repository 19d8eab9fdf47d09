import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/**
 * The first executable among `first`, then `name` in each PATH directory, then `fallbacks`; or
 * undefined with every path tried in `tried`.
 */
export function findExecutable(
  name: string,
  {
    env = process.env,
    first = [],
    fallbacks = [],
  }: {
    env?: NodeJS.ProcessEnv;
    first?: readonly string[];
    fallbacks?: readonly string[];
  } = {},
): { path: string | undefined; tried: string[] } {
  const tried: string[] = [];
  const onPath = (env.PATH ?? "")
    .split(delimiter)
    .filter(Boolean)
    .map((d) => join(d, name));
  for (const c of [...first, ...onPath, ...fallbacks]) {
    tried.push(c);
    try {
      accessSync(c, constants.X_OK);
      return { path: c, tried };
    } catch (err) {
      // Absent or not executable: the next candidate may do. Anything else is worth reporting.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "EACCES" && code !== "ENOTDIR") throw err;
    }
  }
  return { path: undefined, tried };
}
