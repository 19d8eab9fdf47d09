import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

/**
 * Many suites run the built CLI (`dist/main.js`) as users do, so a targeted `npx vitest run` after
 * editing `src/` would silently test the old code. This global setup stops the run at once, with one
 * line, when any source file is newer than what it compiles to.
 */
export default function checkBuildIsCurrent(): void {
  const root = join(import.meta.dirname, "..");
  const stale: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts")) {
        const built = join(root, "dist", relative(join(root, "src"), path)).replace(/\.ts$/, ".js");
        let builtAt = 0;
        try {
          builtAt = statSync(built).mtimeMs;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        }
        if (builtAt < statSync(path).mtimeMs) stale.push(relative(root, path));
      }
    }
  };
  walk(join(root, "src"));
  if (stale.length > 0) {
    throw new Error(
      `dist/ is older than src/ (${stale.slice(0, 3).join(", ")}${stale.length > 3 ? ", …" : ""}): run \`npm run build\` first, or \`npm test\`, which builds`,
    );
  }
}
