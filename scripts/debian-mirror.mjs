// The Debian archive this machine's apt is set up with, so that scripts fetching Debian packages
// (versions.mjs, image-base.mjs) work behind whatever mirror the machine uses.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The machine's Debian archive URI, from its deb822 or one-line sources. */
export function debianMirror() {
  const files = [];
  if (existsSync("/etc/apt/sources.list")) files.push("/etc/apt/sources.list");
  if (existsSync("/etc/apt/sources.list.d")) {
    for (const f of readdirSync("/etc/apt/sources.list.d")) {
      if (f.endsWith(".list") || f.endsWith(".sources")) files.push(join("/etc/apt/sources.list.d", f));
    }
  }
  for (const f of files) {
    for (const line of readFileSync(f, "utf8").split("\n")) {
      const uris = line.match(/^URIs:\s*(.+)$/)?.[1].split(/\s+/) ?? [
        line.match(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/)?.[1],
      ];
      const uri = uris.find((u) => u?.replace(/\/$/, "").endsWith("/debian"));
      if (uri) return uri.replace(/\/$/, "");
    }
  }
  throw new Error(
    "no Debian archive found in this machine's apt sources; these scripts fetch Debian packages from the archive apt uses (elsewhere: NATS_SERVER_BIN=<a nats-server binary> for the tests, the public base image for the Dockerfile)",
  );
}
