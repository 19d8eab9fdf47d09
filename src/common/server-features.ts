import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";

/**
 * What the connected nats-server can do, decided from its version once at connect. orderflow
 * runs on 2.9.10 (Debian bookworm) as well as on the newest release; everything a newer server
 * adds is used only where this says it is there, and 2.9 keeps working without it.
 */
export interface ServerFeatures {
  /** As the server reports it in INFO, e.g. "2.15.1". */
  version: string;
  /** `+TERM <reason>` is honoured and the reason reaches the MSG_TERMINATED advisory (2.10.4+). */
  termReason: boolean;
  /** Stream and consumer `metadata` (2.10+). */
  metadata: boolean;
  /** `jetstream { sync_interval: … }` in the server config (2.10+). */
  syncInterval: boolean;
  /** The server adds `_nats.*` keys to every stream and consumer config's metadata (2.11+). */
  serverMetadata: boolean;
}

/** A version as [major, minor, patch]; pre-release and build suffixes are ignored. */
function parseVersion(version: string): [number, number, number] {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(version.trim());
  if (!m) return [0, 0, 0];
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

/** `version` ≥ `min`, both "major.minor[.patch]". */
export function versionAtLeast(version: string, min: string): boolean {
  const a = parseVersion(version);
  const b = parseVersion(min);
  for (let i = 0; i < 3; i++) {
    if ((a[i] as number) !== (b[i] as number)) return (a[i] as number) > (b[i] as number);
  }
  return true;
}

export function featuresOf(version: string): ServerFeatures {
  const at = (min: string) => versionAtLeast(version, min);
  return {
    version,
    termReason: at("2.10.4"),
    metadata: at("2.10.0"),
    syncInterval: at("2.10.0"),
    serverMetadata: at("2.11.0"),
  };
}

/** The features of the server `nc` is connected to now (after a reconnect it may be another). */
export function serverFeatures(nc: NatsConnection): ServerFeatures {
  return featuresOf(nc.info?.version ?? "0.0.0");
}

/**
 * What a team gives up on a server older than 2.10.4, in one line for `up` to say once; undefined
 * on 2.10.4 and newer.
 */
export function olderServerNotice(f: ServerFeatures): string | undefined {
  const missing = [
    ...(f.termReason ? [] : ["dead-letter reasons are not sent with +TERM (the advisory carries none)"]),
    ...(f.metadata ? [] : ["consumers carry no orderflow metadata"]),
    ...(f.syncInterval ? [] : ["`sync_interval` (fsync before the PubAck) cannot be set"]),
  ];
  if (missing.length === 0) return undefined;
  const before = f.metadata ? "2.10.4" : "2.10";
  return `nats-server ${f.version} predates ${before}: ${missing.join(", ")}; upgrade the server to use them`;
}

/** The server's version and JetStream API level (reported by 2.11+; absent before). */
export interface ServerVersionInfo {
  version: string;
  apiLevel: number | undefined;
}

/** One request (`$JS.API.INFO`) for the API level; the version comes from the connection's INFO. */
export async function readServerVersion(
  nc: NatsConnection,
  jsm: JetStreamManager,
): Promise<ServerVersionInfo> {
  const account = await jsm.getAccountInfo();
  return { version: nc.info?.version ?? "unknown", apiLevel: account.api.level };
}

/** "nats-server 2.15.1, JetStream API level 5" (or "… no API level (before 2.11)"). */
export function describeServerVersion(v: ServerVersionInfo): string {
  const level =
    v.apiLevel === undefined ? "no JetStream API level (before 2.11)" : `JetStream API level ${v.apiLevel}`;
  return `nats-server ${v.version}, ${level}`;
}
