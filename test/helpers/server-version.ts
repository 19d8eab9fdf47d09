import { findNatsServerBinary, natsServerBinaryVersion } from "../../src/common/nats-server.js";
import { featuresOf, type ServerFeatures, versionAtLeast } from "../../src/common/server-features.js";

let cached: string | undefined;

/** The version of the nats-server binary the tests start (`$NATS_SERVER_BIN`, else the default). */
export function testServerVersion(): string {
  cached ??= natsServerBinaryVersion(findNatsServerBinary());
  return cached;
}

/** Whether the servers the tests start are at least `min` ("2.10.4"). */
export function testServerAtLeast(min: string): boolean {
  return versionAtLeast(testServerVersion(), min);
}

/** What the servers the tests start can do. */
export function testServerFeatures(): ServerFeatures {
  return featuresOf(testServerVersion());
}
