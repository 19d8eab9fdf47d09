import { createHash } from "node:crypto";
import type { ConsumerConfig } from "@nats-io/jetstream";
import { VERSION } from "../common/version.js";

/**
 * orderflow's own keys in a consumer's `metadata` (nats-server 2.10+): which orderflow last set the
 * consumer, and a hash of the settings it wanted, so an operator (or `nats consumer info`) can tell
 * an orderflow-made consumer and whether its settings are the ones this version asks for.
 */
export const ConsumerMetadataKey = {
  Version: "orderflow.version",
  Settings: "orderflow.settings",
} as const;

/** Keys the server sets itself (2.11+: `_nats.ver`, `_nats.level`, `_nats.req.level`). */
const SERVER_PREFIX = "_nats.";

/** A consumer's metadata without the server's own keys: what a team or orderflow put there. */
export function ownMetadata(metadata: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata ?? {})) if (!k.startsWith(SERVER_PREFIX)) out[k] = v;
  return out;
}

/** Made (or last set) by orderflow: carries `orderflow.version` (2.10+; 2.9 keeps no metadata). */
export function isOrderflowMade(cfg: ConsumerConfig): boolean {
  return Boolean(cfg.metadata?.[ConsumerMetadataKey.Version]);
}

/** sha256 of the settings (keys sorted, metadata left out), 16 hex digits. */
export function settingsHash(cfg: ConsumerConfig): string {
  const { metadata: _, ...settings } = cfg as ConsumerConfig & { metadata?: unknown };
  // Keys in code-unit order (not localeCompare, which follows the machine's locale): the same
  // settings hash the same on every host. Values are numbers, strings or arrays of them.
  const canonical = JSON.stringify(
    Object.fromEntries(Object.entries(settings).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  );
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}

/** The config with orderflow's keys added to whatever metadata it has (a team's keys are kept). */
export function withOrderflowMetadata(cfg: ConsumerConfig): ConsumerConfig {
  return {
    ...cfg,
    metadata: {
      ...ownMetadata(cfg.metadata),
      [ConsumerMetadataKey.Version]: VERSION,
      [ConsumerMetadataKey.Settings]: settingsHash(cfg),
    },
  };
}
