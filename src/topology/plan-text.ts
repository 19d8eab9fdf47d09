import { showValue } from "./diff.js";
import { ChangeKind, type TopologyPlan } from "./ensure.js";
import { pruneProblems } from "./pipeline-change.js";

const VERBS: Record<Exclude<ChangeKind, "up-to-date">, [string, string]> = {
  [ChangeKind.Create]: ["would create", "created"],
  [ChangeKind.Update]: ["would update", "updated"],
  [ChangeKind.Repoint]: ["would re-point", "re-pointed"],
};

/** The plan as lines an operator reads: one per object, then one per differing field. */
export function planLines(plan: TopologyPlan, dryRun: boolean): string[] {
  const lines: string[] = [];
  for (const c of plan.changes) {
    if (c.kind === ChangeKind.UpToDate) {
      lines.push(`${c.object}: up to date`);
      continue;
    }
    lines.push(`${c.object}: ${VERBS[c.kind][dryRun ? 0 : 1]}`);
    for (const d of c.diffs) {
      lines.push(`  ${d.field}: ${showValue(d.field, d.actual)} -> ${showValue(d.field, d.desired)}`);
    }
    if (c.start) lines.push(`  starts at stream sequence ${c.start.seq} (${c.start.why})`);
    if (c.othersReading) {
      lines.push(
        `  note: ${c.othersReading.join(", ")} also read(s) it without orderflow's metadata: not taken over from, it starts as declared (if it replaces one of them, \`orderflow setup --prune --force\` takes over where that one stopped; docs/pipeline-changes.md#whose-consumers)`,
      );
    }
    const problems = [...(c.repoint?.problems ?? []), ...(c.takeover?.problems ?? [])];
    if (problems.length > 0) lines.push(`  not now: ${problems.join("; ")}`);
  }
  for (const u of plan.undeclared ?? []) {
    const state = `${u.pending} pending, ${u.ackPending} in flight, ${u.waiting} waiting pulls`;
    const covered = u.coveredBy ? `; ${u.coveredBy} reads its orders` : "";
    if (u.action === "kept") {
      const blocked = pruneProblems(u).length > 0 ? " (refused while it holds orders, unless --force)" : "";
      lines.push(
        `${u.object}: not declared (reads ${u.filter}; ${state}${covered}); \`orderflow setup --prune\` deletes it${blocked}`,
      );
    } else {
      lines.push(`${u.object}: ${u.action} (not declared; read ${u.filter}; ${state}${covered})`);
    }
  }
  return lines;
}
