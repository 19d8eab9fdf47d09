import { Command } from "commander";
import { UsageError } from "../../common/errors.js";
import { colour } from "../../common/format.js";
import { MonitorFeed } from "../../monitor/monitor-feed.js";
import type { OrderEvent } from "../../monitor/order-event.js";
import { describeDeadLetter } from "../../stages/dead-letter-info.js";
import type { StageOrOther } from "../../stages/order-key.js";
import { STAGES, Stage } from "../../topology/spec.js";
import { commandContext, intFlag } from "../context.js";

interface MonitorFlags {
  json?: boolean;
  stage: string[];
  count?: number;
}

export function monitorCommand(): Command {
  return new Command("monitor")
    .description(
      "follow every order event from the MONITOR push consumer as it happens (any number can watch)",
    )
    .option("--json", "one JSON object per event and line")
    .option(
      "--stage <stages>",
      `only these stages, comma-separated or repeated: ${STAGES.join(", ")}`,
      (v: string, acc: string[]) => [...acc, ...v.split(",")],
      [],
    )
    .option("--count <n>", "exit after this many events", intFlag("count", 1))
    .addHelpText(
      "after",
      `
It subscribes to the MONITOR consumer's deliver subject (monitor.ORDERS) like the seed's
\`nats sub monitor.ORDERS\`, so several monitors can watch at once. MONITOR keeps one shared
position: events that happen while nobody watches are shown to the next monitor that starts.

Examples:
  $ orderflow monitor
  $ orderflow monitor --stage failed            # dead letters only, with their reason
  $ orderflow monitor --json | jq -c 'select(.stage == "completed") | .orderNo'`,
    )
    .action(async (flags: MonitorFlags, cmd: Command) => {
      const ctx = commandContext(cmd, "monitor");
      const stages = parseStages(flags.stage);
      const nc = await ctx.connect();
      const feed = new MonitorFeed(nc, ctx.topology, { stages, logger: ctx.logger });
      const stopFeed = () => {
        feed.stop().catch((err: unknown) => ctx.logger.error({ err }, "monitor stop failed"));
      };
      // `orderflow monitor | head` closes our stdout: stop quietly instead of dying on EPIPE.
      const onStdoutError = (err: NodeJS.ErrnoException) => {
        if (err.code !== "EPIPE") ctx.logger.error({ err }, "cannot write to stdout");
        stopFeed();
      };
      process.stdout.on("error", onStdoutError);
      ctx.signal.addEventListener("abort", stopFeed, { once: true });
      try {
        await feed.start();
        if (process.stderr.isTTY && !flags.json) {
          process.stderr.write(
            `watching ${feed.subject} (consumer ${ctx.topology.monitorConsumer}); Ctrl-C to stop\n`,
          );
        }
        const colours = Boolean(process.stdout.isTTY) && !flags.json;
        let seen = 0;
        for await (const event of feed.events()) {
          process.stdout.write(
            `${flags.json ? JSON.stringify(eventJson(event)) : eventLine(event, colours)}\n`,
          );
          seen++;
          if (flags.count !== undefined && seen >= flags.count) break;
        }
        await feed.stop();
      } finally {
        ctx.signal.removeEventListener("abort", stopFeed);
        process.stdout.off("error", onStdoutError);
        await nc.close();
      }
    });
}

function parseStages(values: string[]): StageOrOther[] {
  const out: StageOrOther[] = [];
  for (const raw of values) {
    const v = raw.trim();
    if (v === "") continue;
    if (!(STAGES as readonly string[]).includes(v)) {
      throw new UsageError(`unknown --stage "${v}"`, { hint: `use one or more of ${STAGES.join(", ")}` });
    }
    out.push(v as Stage);
  }
  return out;
}

const STAGE_COLOUR: Readonly<Record<StageOrOther, (s: string) => string>> = Object.freeze({
  [Stage.Received]: colour.cyan,
  [Stage.Processed]: colour.yellow,
  [Stage.Completed]: colour.green,
  [Stage.Failed]: colour.red,
  other: colour.dim,
});

const STAGE_WIDTH = Math.max(...STAGES.map((s) => s.length));

/** `10:29:53.830 received  seq 1  100001` (with the date when the event is not from today). */
export function eventLine(e: OrderEvent, colours: boolean): string {
  const stage = e.stage.padEnd(STAGE_WIDTH);
  const parts = [
    eventTime(e.time),
    colours ? STAGE_COLOUR[e.stage](stage) : stage,
    `seq ${e.seq}`.padEnd(10),
    e.payload,
  ];
  if (e.deadLetter) parts.push(`<- ${describeDeadLetter(e.deadLetter)}`);
  return parts.join("  ");
}

function eventJson(e: OrderEvent): Record<string, unknown> {
  return { ...e, time: e.time.toISOString() };
}

function eventTime(t: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const clock = `${p(t.getHours())}:${p(t.getMinutes())}:${p(t.getSeconds())}.${p(t.getMilliseconds(), 3)}`;
  const today = new Date();
  return t.toDateString() === today.toDateString()
    ? clock
    : `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())} ${clock}`;
}
