/**
 * Nearest-rank percentile (`q` from 0 to 1) of values sorted ascending; 0 for none. The bench's
 * report and the dashboard's latency panel both use it, so their figures mean the same thing.
 */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] as number;
}
