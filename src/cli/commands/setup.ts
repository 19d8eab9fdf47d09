import { jetstreamManager } from "@nats-io/jetstream";
import { Command } from "commander";
import { printJson } from "../../common/format.js";
import { ensureTopology, isUpToDate } from "../../topology/ensure.js";
import { planLines } from "../../topology/plan-text.js";
import { commandContext, intFlag } from "../context.js";

interface SetupFlags {
  replicas: number;
  dryRun?: boolean;
  json?: boolean;
  interactive?: boolean;
}

export function setupCommand(): Command {
  return new Command("setup")
    .description(
      "create or update the ORDERS stream and the NEW, DISPATCH and MONITOR consumers (idempotent)",
    )
    .option("--replicas <n>", "stream and consumer replicas (3 on a cluster)", intFlag("replicas", 1, 5), 1)
    .option("--dry-run", "print the plan, change nothing")
    .option("--json", "print the plan as JSON")
    .addHelpText(
      "after",
      `
Examples:
  $ orderflow setup                      # create everything, or report "up to date"
  $ orderflow setup --dry-run            # show what would change
  $ orderflow setup --replicas 3 -s nats://n1:4222,nats://n2:4222,nats://n3:4222`,
    )
    .action(async (flags: SetupFlags, cmd: Command) => {
      const ctx = commandContext(cmd, "setup", { replicas: flags.replicas });
      const nc = await ctx.connect();
      try {
        const jsm = await jetstreamManager(nc);
        const plan = await ensureTopology(jsm, ctx.topology, { dryRun: flags.dryRun });
        if (flags.json) {
          printJson({ ...plan, upToDate: isUpToDate(plan) });
          return;
        }
        for (const line of planLines(plan, Boolean(flags.dryRun))) process.stdout.write(`${line}\n`);
        if (isUpToDate(plan)) process.stdout.write(`topology ${ctx.topology.stream} is up to date\n`);
      } finally {
        await nc.close();
      }
    });
}
