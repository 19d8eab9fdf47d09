import { withDefaults } from "../common/defaults.js";

/** Options of `orderflow status` and of anything else (the dashboard) that judges the pipeline. */
export interface StatusOptions {
  /** Rates and the verdict look at this much history: two samples this far apart. Default 3,000 ms. */
  windowMs: number;
  /** With --watch, a new sample (and screen) this often. Default 1,000 ms. */
  intervalMs: number;
  /**
   * A consumer's backlog counts as growing when its pending count rose by at least this many
   * messages over the window: small wobbles of a busy pipeline are not a trend. Default 10 messages.
   */
  backlogGrowthMin: number;
}

export const DEFAULT_STATUS_OPTIONS: Readonly<StatusOptions> = Object.freeze({
  windowMs: 3_000,
  intervalMs: 1_000,
  backlogGrowthMin: 10,
});

/** Merges defaults with the caller's options (never changing the caller's object) and checks them. */
export function statusOptions(overrides: Partial<StatusOptions> = {}): StatusOptions {
  const o = withDefaults<StatusOptions>(DEFAULT_STATUS_OPTIONS, overrides);
  for (const k of ["windowMs", "intervalMs"] as const) {
    if (!Number.isFinite(o[k]) || o[k] < 1) throw new RangeError(`${k} must be at least 1 ms, got ${o[k]}`);
  }
  if (!Number.isInteger(o.backlogGrowthMin) || o.backlogGrowthMin < 1) {
    throw new RangeError(`backlogGrowthMin must be a positive whole number, got ${o.backlogGrowthMin}`);
  }
  return o;
}
