import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { ErrorCode, OrderflowError } from "../common/errors.js";

/** A file the dashboard serves, held in memory (the whole page is under 100 KiB). */
export interface Asset {
  body: Buffer;
  contentType: string;
}

/** The page's own files: src/dashboard/public, copied next to the compiled code by the build. */
export const PUBLIC_DIR = fileURLToPath(new URL("./public/", import.meta.url));

const require = createRequire(import.meta.url);

const PAGE_MODULES = [
  "app.js",
  "page.js",
  "chart.js",
  "feed.js",
  "publish.js",
  "lookup.js",
  "dead-letters.js",
];

/** URL path → where the file is. Nothing else is served: no directory listing, no path from the request. */
const FILES: ReadonlyArray<{ path: string; file: () => string; contentType: string }> = [
  { path: "/", file: () => `${PUBLIC_DIR}index.html`, contentType: "text/html; charset=utf-8" },
  // The page's ES modules: app.js imports the others.
  ...PAGE_MODULES.map((name) => ({
    path: `/${name}`,
    file: () => `${PUBLIC_DIR}${name}`,
    contentType: "text/javascript; charset=utf-8",
  })),
  ...["style.css", "panels.css"].map((name) => ({
    path: `/${name}`,
    file: () => `${PUBLIC_DIR}${name}`,
    contentType: "text/css; charset=utf-8",
  })),
  { path: "/favicon.svg", file: () => `${PUBLIC_DIR}favicon.svg`, contentType: "image/svg+xml" },
  // uPlot straight from its package: served by us, so the page works offline (no CDN).
  {
    path: "/vendor/uPlot.iife.min.js",
    file: () => require.resolve("uplot/dist/uPlot.iife.min.js"),
    contentType: "text/javascript; charset=utf-8",
  },
  {
    path: "/vendor/uPlot.min.css",
    file: () => require.resolve("uplot/dist/uPlot.min.css"),
    contentType: "text/css; charset=utf-8",
  },
];

/** Reads every asset once; a missing one fails here, at start, not on a visitor's request. */
export async function loadAssets(): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  for (const f of FILES) {
    const file = f.file();
    try {
      assets.set(f.path, { body: await readFile(file), contentType: f.contentType });
    } catch (err) {
      throw new OrderflowError(ErrorCode.Internal, `dashboard file ${f.path} missing at ${file}`, {
        hint: "run `npm run build` (it copies src/dashboard/public to dist/dashboard/public)",
        cause: err,
      });
    }
  }
  return assets;
}
