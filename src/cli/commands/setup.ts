import { confirm } from "@inquirer/prompts";
import { jetstreamManager } from "@nats-io/jetstream";
import { Command } from "commander";
import { UsageError } from "../../common/errors.js";
import { printJson } from "../../common/format.js";
import { serverFeatures } from "../../common/server-features.js";
import { ensureTopology, isUpToDate, type TopologyPlan } from "../../topology/ensure.js";
import { planLines } from "../../topology/plan-text.js";
import { defaultWizardAnswers, seedDeviations, wizardPlan } from "../../topology/wizard-plan.js";
import { commandContext, intFlag } from "../context.js";
import { isPromptCancel, runWizard } from "../setup-wizard.js";

interface SetupFlags {
  replicas: number;
  dryRun?: boolean;
  json?: boolean;
  interactive?: boolean;
  prune?: boolean;
  force?: boolean;
}

export function setupCommand(): Command {
  return new Command("setup")
    .description(
      "create or update the ORDERS stream, a consumer per declared stage (NEW and DISPATCH by default) and MONITOR (idempotent)",
    )
    .option("--replicas <n>", "stream and consumer replicas (3 on a cluster)", intFlag("replicas", 1, 5), 1)
    .option("--dry-run", "print the plan, change nothing")
    .option("--json", "print the plan as JSON")
    .option(
      "--prune",
      "delete stage consumers the pipeline no longer declares (refused while they hold orders no stage reads)",
    )
    .option("--force", "with --prune: delete them even while they hold orders")
    .option(
      "--interactive",
      "ask each stream and consumer setting (seed values as defaults), show the plan, apply on yes",
    )
    .addHelpText(
      "after",
      `
Examples:
  $ orderflow setup                      # create everything, or report "up to date"
  $ orderflow setup --dry-run            # show what would change
  $ orderflow setup --interactive        # the seed's wizard: Enter accepts each default
  $ orderflow --config new.ts setup      # change a running pipeline (docs/pipeline-changes.md)
  $ orderflow setup --prune              # delete the consumer of a stage taken out
  $ orderflow setup --replicas 3 -s nats://n1:4222,nats://n2:4222,nats://n3:4222`,
    )
    .action(async (flags: SetupFlags, cmd: Command) => {
      if (flags.force && !flags.prune) {
        throw new UsageError("--force goes with --prune", { hint: "add --prune, or drop --force" });
      }
      if (flags.interactive) {
        await interactiveSetup(flags, cmd);
        return;
      }
      const ctx = commandContext(cmd, "setup", replicasGiven(cmd, flags));
      const nc = await ctx.connect();
      try {
        const jsm = await jetstreamManager(nc);
        const opts = {
          server: serverFeatures(nc),
          findUndeclared: true,
          prune: Boolean(flags.prune),
          force: Boolean(flags.force),
        };
        // The plan first, so an operator sees what a change to a running pipeline will do before it is done.
        const plan = await ensureTopology(jsm, ctx.topology, { ...opts, dryRun: true });
        if (flags.dryRun || (isUpToDate(plan) && !(flags.prune && plan.undeclared.length > 0))) {
          report(plan, flags, true, ctx.topology.stream);
          return;
        }
        if (!flags.json && needsNotice(plan)) {
          process.stdout.write("plan:\n");
          for (const line of planLines(plan, true)) process.stdout.write(`  ${line}\n`);
        }
        report(await ensureTopology(jsm, ctx.topology, opts), flags, false, ctx.topology.stream);
      } finally {
        await nc.close();
      }
    });
}

/**
 * A change to a running pipeline (a re-point, a start position, a deletion, a consumer created
 * beside another reader) is shown before it is made.
 */
function needsNotice(plan: TopologyPlan): boolean {
  return (
    plan.changes.some((c) => c.repoint || c.start || c.othersReading) ||
    plan.undeclared.some((u) => u.action !== "kept")
  );
}

function report(plan: TopologyPlan, flags: SetupFlags, dryRun: boolean, stream: string): void {
  if (flags.json) {
    printJson({ ...plan, upToDate: isUpToDate(plan) });
    return;
  }
  for (const line of planLines(plan, dryRun)) process.stdout.write(`${line}\n`);
  if (isUpToDate(plan)) process.stdout.write(`topology ${stream} is up to date\n`);
}

/**
 * The seed's wizard path: ask, show the plan (a dry run of ensureTopology with the answers), apply
 * after a yes. Needs a terminal: piped input would answer prompts with whatever comes down the pipe.
 */
async function interactiveSetup(flags: SetupFlags, cmd: Command): Promise<void> {
  if (!process.stdin.isTTY) {
    throw new UsageError("setup --interactive needs a terminal, but stdin is not a TTY", {
      hint: "run `orderflow setup` (with --replicas, --stream, --subject-prefix) instead",
    });
  }
  if (flags.json)
    throw new UsageError("--interactive and --json do not go together", { hint: "drop one of them" });
  const ctx = commandContext(cmd, "setup", replicasGiven(cmd, flags));
  const nc = await ctx.connect();
  const out = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const jsm = await jetstreamManager(nc);
    const prompts = { signal: ctx.signal };
    let answers: Awaited<ReturnType<typeof runWizard>>;
    try {
      out("Press Enter to keep each default (the seed's value).");
      answers = await runWizard(prompts, defaultWizardAnswers(ctx.topology), ctx.topology);
    } catch (err) {
      if (isPromptCancel(err)) throw new UsageError("setup cancelled; nothing was changed");
      throw err;
    }
    const plan = wizardPlan(answers, ctx.topology);
    const configs = { stream: plan.stream, consumers: plan.consumers, server: serverFeatures(nc) };
    const dry = await ensureTopology(jsm, plan.topology, { ...configs, dryRun: true });
    out("");
    for (const line of planLines(dry, true)) out(line);
    const deviations = seedDeviations(plan, ctx.topology);
    if (deviations.length > 0) {
      out(
        `note: differs from the seed in ${deviations.join(", ")}; a plain \`orderflow setup\` would change these back`,
      );
    }
    if (isUpToDate(dry)) {
      out(`topology ${plan.topology.stream} is up to date`);
      return;
    }
    if (flags.dryRun) return;
    let apply: boolean;
    try {
      apply = await confirm({ message: "Apply these changes?", default: true }, prompts);
    } catch (err) {
      if (isPromptCancel(err)) throw new UsageError("setup cancelled; nothing was changed");
      throw err;
    }
    if (!apply) {
      out("nothing was changed");
      return;
    }
    const applied = await ensureTopology(jsm, plan.topology, configs);
    for (const line of planLines(applied, false)) out(line);
    if (
      plan.topology.stream !== ctx.topology.stream ||
      plan.topology.subjectPrefix !== ctx.topology.subjectPrefix
    ) {
      out(
        `use --stream ${plan.topology.stream} --subject-prefix ${plan.topology.subjectPrefix} (or ORDERFLOW_STREAM / ORDERFLOW_SUBJECT_PREFIX) with the other commands`,
      );
    }
  } finally {
    await nc.close();
  }
}

/**
 * `--replicas` when given: left at its default it must not undo a pipeline file's
 * `stream.replicas` (a fresh setup would make an R1 stream, an existing R3 one would be scaled down).
 */
function replicasGiven(cmd: Command, flags: SetupFlags): { replicas?: number } {
  return cmd.getOptionValueSource("replicas") === "cli" ? { replicas: flags.replicas } : {};
}
