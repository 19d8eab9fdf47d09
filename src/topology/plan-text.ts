import { showValue } from "./diff.js";
import { ChangeKind, type TopologyPlan } from "./ensure.js";

/** The plan as lines an operator reads: one per object, then one per differing field. */
export function planLines(plan: TopologyPlan, dryRun: boolean): string[] {
  const lines: string[] = [];
  for (const c of plan.changes) {
    if (c.kind === ChangeKind.UpToDate) {
      lines.push(`${c.object}: up to date`);
      continue;
    }
    const verb =
      c.kind === ChangeKind.Create
        ? dryRun
          ? "would create"
          : "created"
        : dryRun
          ? "would update"
          : "updated";
    lines.push(`${c.object}: ${verb}`);
    for (const d of c.diffs) {
      lines.push(`  ${d.field}: ${showValue(d.field, d.actual)} -> ${showValue(d.field, d.desired)}`);
    }
  }
  return lines;
}
