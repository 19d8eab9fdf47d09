// Copies the dashboard's static page (plain HTML/CSS/JS, no bundler) next to the compiled code,
// where src/dashboard/assets.ts looks for it: dist/dashboard/public.
import { cp, rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";

const from = fileURLToPath(new URL("../src/dashboard/public/", import.meta.url));
const to = fileURLToPath(new URL("../dist/dashboard/public/", import.meta.url));
await rm(to, { recursive: true, force: true });
await cp(from, to, { recursive: true });
