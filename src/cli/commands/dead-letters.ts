import { SingleBar } from "cli-progress";
import { Command } from "commander";
import { durationMs } from "../../common/duration.js";
import { UsageError } from "../../common/errors.js";
import { formatNumber, printJson, table } from "../../common/format.js";
import {
  type DeadLetter,
  type DeadLetterFilter,
  matches,
  readDeadLetters,
} from "../../orders/dead-letters.js";
import { replaySelection, SkipReason, summaryLine } from "../../orders/replay.js";
import { ServiceName } from "../../telemetry/tracing.js";
import { commandContext, commandTracing, intFlag } from "../context.js";

interface FilterFlags {
  stage?: string;
  reason?: string;
  order?: string;
  since?: string;
}

/** `--since 1h` (that long ago) or an ISO time. */
function sinceMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ago = durationMs(value);
  if (ago !== undefined) return Date.now() - ago;
  const at = Date.parse(value);
  if (Number.isNaN(at)) {
    throw new UsageError(`--since: "${value}" is neither a duration nor a time`, {
      hint: "use e.g. 1h, 30m or 2026-01-31T12:00:00Z",
    });
  }
  return at;
}

function filterOf(f: FilterFlags): DeadLetterFilter {
  return { stage: f.stage, reason: f.reason, orderNo: f.order, sinceMs: sinceMs(f.since) };
}

function withFilters(cmd: Command): Command {
  return cmd
    .option(
      "--stage <stage>",
      "only dead letters of this stage: processor, dispatcher, or a stage of --config",
    )
    .option("--reason <reason>", "only this reason (max-attempts, comma, …)")
    .option("--order <no>", "only this order number")
    .option("--since <when>", "only stored since then: a duration ago (1h) or a time");
}

const replayedText = (d: DeadLetter) =>
  d.unfinished ? "interrupted" : d.replays > 0 ? (d.replays > 1 ? `yes (${d.replays}x)` : "yes") : "no";

function listJson(d: DeadLetter) {
  const { data: _data, headers: _headers, unfinished, ...rest } = d;
  return { ...rest, replayed: d.replays > 0, interrupted: unfinished !== undefined };
}

function listCommand(): Command {
  return withFilters(new Command("list").description("dead letters, newest first"))
    .option("--json", "print them as JSON")
    .option("--limit <n>", "how many per page", intFlag("limit", 1), 50)
    .option("--page <n>", "which page, from 1", intFlag("page", 1), 1)
    .action(async (flags: FilterFlags & { json?: boolean; limit: number; page: number }, cmd: Command) => {
      const ctx = commandContext(cmd, "dead-letters");
      const f = filterOf(flags);
      const nc = await ctx.connect();
      try {
        const all = (await readDeadLetters(nc, ctx.topology, { inboxPrefix: ctx.connectOptions.inboxPrefix }))
          .filter((d) => matches(d, f))
          .reverse();
        const page = all.slice((flags.page - 1) * flags.limit, flags.page * flags.limit);
        if (flags.json) {
          printJson({
            total: all.length,
            page: flags.page,
            limit: flags.limit,
            deadLetters: page.map(listJson),
          });
          return;
        }
        if (all.length === 0) {
          process.stdout.write("no dead letters\n");
          return;
        }
        const rows = page.map((d) => [
          d.seq,
          d.time,
          d.stage,
          d.reason,
          d.orderNo ?? "",
          d.deliveries ?? "",
          d.sourceSeq ?? "",
          replayedText(d),
          d.error.length > 60 ? `${d.error.slice(0, 59)}…` : d.error,
        ]);
        process.stdout.write(
          `${table(["seq", "when", "stage", "reason", "order", "deliveries", "source seq", "replayed", "error"], rows)}\n`,
        );
        const pages = Math.ceil(all.length / flags.limit);
        if (pages > 1) {
          process.stdout.write(
            `page ${flags.page} of ${pages} (${formatNumber(all.length)} dead letters; --page ${flags.page + 1} for more)\n`,
          );
        }
      } finally {
        await nc.close();
      }
    });
}

function showCommand(): Command {
  return new Command("show")
    .description("every header and the payload of one dead letter")
    .argument("<seq>", "its stream sequence (from list)", intFlag("seq", 1))
    .option("--json", "print it as JSON")
    .action(async (seq: number, flags: { json?: boolean }, cmd: Command) => {
      const ctx = commandContext(cmd, "dead-letters");
      const nc = await ctx.connect();
      try {
        const d = (
          await readDeadLetters(nc, ctx.topology, { inboxPrefix: ctx.connectOptions.inboxPrefix })
        ).find((x) => x.seq === seq);
        if (!d) {
          throw new UsageError(`no dead letter at seq ${seq}`, { hint: "see `orderflow dead-letters list`" });
        }
        if (flags.json) {
          printJson({ ...listJson(d), headers: d.headers });
          return;
        }
        const lines = [
          `dead letter seq ${d.seq}, stored ${d.time}, replayed: ${replayedText(d)}`,
          ...Object.entries(d.headers).map(([k, v]) => `  ${k}: ${v}`),
          `payload: ${d.payload}`,
        ];
        process.stdout.write(`${lines.join("\n")}\n`);
      } finally {
        await nc.close();
      }
    });
}

function replayCommand(): Command {
  return withFilters(
    new Command("replay").description(
      "republish dead letters' original inputs to their source subjects, each at most once",
    ),
  )
    .argument("[seq...]", "dead letters by stream sequence")
    .option("--all", "every dead letter (matching the filters)")
    .option("--force", "replay again what was replayed before")
    .option("--dry-run", "say what would be replayed, publish nothing")
    .option("--json", "print the summary as JSON")
    .action(
      async (
        seqs: string[],
        flags: FilterFlags & { all?: boolean; force?: boolean; dryRun?: boolean; json?: boolean },
        cmd: Command,
      ) => {
        const numbers = seqs.map((s) => intFlag("seq", 1)(s));
        const ctx = commandContext(cmd, "dead-letters");
        const tracing = flags.dryRun ? undefined : await commandTracing(ctx, ServiceName.Replay);
        const nc = await ctx.connect();
        let bar: SingleBar | undefined;
        try {
          const summary = await replaySelection(
            nc,
            ctx.topology,
            { seqs: numbers, filter: filterOf(flags), all: flags.all },
            {
              inboxPrefix: ctx.connectOptions.inboxPrefix,
              force: flags.force,
              dryRun: flags.dryRun,
              onSelected: (count) => {
                if (!process.stderr.isTTY || count < 20) return;
                bar = new SingleBar({ format: "replay [{bar}] {value}/{total}", stream: process.stderr });
                bar.start(count, 0);
              },
              onProgress: (done) => bar?.update(done),
              tracing,
            },
          );
          bar?.stop();
          if (flags.json) printJson(summary);
          else {
            for (const o of summary.outcomes.filter((x) => x.result === "skipped")) {
              process.stdout.write(
                `seq ${o.seq}: skipped: ${o.reason}${o.reason === SkipReason.AlreadyReplayed ? " (--force to replay again)" : ""}\n`,
              );
            }
            process.stdout.write(`${summaryLine(summary)}\n`);
          }
        } finally {
          await nc.close();
          await tracing?.shutdown();
        }
      },
    );
}

export function deadLettersCommand(): Command {
  return new Command("dead-letters")
    .alias("dlq")
    .description("list, inspect and replay dead letters (ORDERS.failed)")
    .addCommand(listCommand())
    .addCommand(showCommand())
    .addCommand(replayCommand())
    .addHelpText(
      "after",
      `
Examples:
  $ orderflow dead-letters list --stage processor --since 1h
  $ orderflow dlq show 42
  $ orderflow dlq replay --reason max-attempts --dry-run
  $ orderflow dlq replay --all`,
    );
}
