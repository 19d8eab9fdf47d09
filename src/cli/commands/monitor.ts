import { Command } from "commander";
import { UsageError } from "../../common/errors.js";
import { colour } from "../../common/format.js";
import { MonitorFeed } from "../../monitor/monitor-feed.js";
import type { OrderEvent } from "../../monitor/order-event.js";
import { describeDeadLetter } from "../../stages/dead-letter-info.js";
import type { StageOrOther } from "../../stages/order-key.js";
import { Stage, stepsOf, type TopologyOptions } from "../../topology/spec.js";
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
      "only these steps, comma-separated or repeated: the pipeline's (received, processed, completed without --config) and failed",
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
      const stages = parseStages(flags.stage, ctx.topology);
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
        const look = eventLook(ctx.topology);
        let seen = 0;
        for await (const event of feed.events()) {
          process.stdout.write(
            `${flags.json ? JSON.stringify(eventJson(event)) : eventLine(event, colours, look)}\n`,
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

/** What `--stage` may name: the pipeline's steps, then `failed`. */
function eventStages(t: TopologyOptions): string[] {
  return [...stepsOf(t), Stage.Failed];
}

function parseStages(values: string[], t: TopologyOptions): StageOrOther[] {
  const known = eventStages(t);
  const out: StageOrOther[] = [];
  for (const raw of values) {
    const v = raw.trim();
    if (v === "") continue;
    if (!known.includes(v)) {
      throw new UsageError(`unknown --stage "${v}"`, { hint: `use one or more of ${known.join(", ")}` });
    }
    out.push(v);
  }
  return out;
}

/** How events of a pipeline are printed: one column width, a colour per step. */
export interface EventLook {
  width: number;
  colourOf: (stage: StageOrOther) => (s: string) => string;
}

/**
 * Intake cyan, the steps between yellow, the last green, dead letters red, anything else dim: the
 * seed's colours, for any number of steps.
 */
export function eventLook(
  t: Pick<TopologyOptions, "stages" | "newConsumer" | "dispatchConsumer">,
): EventLook {
  const steps = stepsOf(t);
  const colours = new Map<string, (s: string) => string>(steps.map((s) => [s, colour.yellow]));
  colours.set(steps[0] as string, colour.cyan);
  colours.set(steps[steps.length - 1] as string, colour.green);
  colours.set(Stage.Failed, colour.red);
  return {
    width: Math.max(...[...steps, Stage.Failed].map((s) => s.length)),
    colourOf: (stage) => colours.get(stage) ?? colour.dim,
  };
}

const SEED_LOOK = eventLook({ stages: undefined, newConsumer: "NEW", dispatchConsumer: "DISPATCH" });

/** `10:29:53.830 received  seq 1  100001` (with the date when the event is not from today). */
export function eventLine(e: OrderEvent, colours: boolean, look: EventLook = SEED_LOOK): string {
  const stage = e.stage.padEnd(look.width);
  const parts = [
    eventTime(e.time),
    colours ? look.colourOf(e.stage)(stage) : stage,
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
