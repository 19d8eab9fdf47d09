import { accessSync, constants } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";
import { onTestFinished } from "vitest";

/** Debian's chromium (`apt-get install -y chromium`; .ci/run installs it when absent). */
export const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export function chromiumMissing(): string | undefined {
  try {
    accessSync(CHROMIUM, constants.X_OK);
    return undefined;
  } catch (err) {
    return `${CHROMIUM} is not executable (${(err as Error).message}); install it with \`apt-get install -y chromium\``;
  }
}

/** Headless Chromium with a fresh profile of its own, closed (and the profile removed) when the test ends. */
export async function launchBrowser(viewport = { width: 1440, height: 1100 }): Promise<BrowserContext> {
  const missing = chromiumMissing();
  if (missing) throw new Error(missing);
  const profile = await mkdtemp(join(tmpdir(), "orderflow-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport,
    deviceScaleFactor: 1,
    timeout: 30_000,
  });
  onTestFinished(async () => {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  });
  return context;
}
