import { jetstreamManager } from "@nats-io/jetstream";
import { Command } from "commander";
import { untilAborted } from "../../common/abort.js";
import { durationFlag } from "../../common/duration.js";
import { errorMessage, OrderflowError } from "../../common/errors.js";
import { printJson } from "../../common/format.js";
import {
  describeServerVersion,
  readServerVersion,
  type ServerVersionInfo,
} from "../../common/server-features.js";
import type { StatusReport } from "../../status/assess.js";
import { DEFAULT_STATUS_OPTIONS } from "../../status/status-options.js";
import { measureStatus, StatusSampler } from "../../status/status-sampler.js";
import { statusJson, statusText } from "../../status/status-text.js";
import { commandContext } from "../context.js";
import { addCheckOptions, type CheckFlags, runCheck } from "./status-check.js";

interface StatusFlags extends CheckFlags {
  check?: boolean;
  json?: boolean;
  watch?: boolean;
  window: number;
  interval: number;
}

/** Moves the cursor home and clears the screen: --watch redraws in place on a terminal. */
const CLEAR_SCREEN = "\u001b[H\u001b[2J";

export function statusCommand(): Command {
  const cmd = new Command("status")
    .description(
      "is the pipeline healthy? messages per step, each stage's consumer backlog, rates and a verdict",
    )
    .option("--json", "print the report as JSON (one object per line with --watch)")
    .option("--watch", "refresh until Ctrl-C, with rates over a sliding window")
    .option(
      "--window <duration>",
      "how far back rates and the verdict look",
      durationFlag("window", { min: 100 }),
      DEFAULT_STATUS_OPTIONS.windowMs,
    )
    .option(
      "--interval <duration>",
      "refresh interval with --watch",
      durationFlag("interval", { min: 100 }),
      DEFAULT_STATUS_OPTIONS.intervalMs,
    )
    .addHelpText(
      "after",
      `
Every stage of the pipeline (the seed's processor on NEW and dispatcher on DISPATCH, or those
--config declares) has its consumer judged. The verdict is one of: healthy, backlog growing (a
consumer's pending count rose over the window), no workers attached (orders wait, nobody is pulling
and nothing was pulled or acked over the window), idle (nothing waits, but no worker has a pull
request open on a stage's consumer), failures present (dead letters on <prefix>.failed). It takes
two samples --window apart (default 3s).

With --check it prints one verdict for a monitoring system, as Nagios plugins and
\`nats server check\` do: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (NATS unreachable), the first
line starting with that word; --format json and prometheus add a state per stage. A stage's consumer
with a backlog and no workers is CRITICAL; the other checks
have a warn and a critical threshold each (a value at or above it; 0 turns it off).

Examples:
  $ orderflow status
  $ orderflow status --watch
  $ orderflow status --json | jq -r .verdict
  $ orderflow status --check --backlog-warn 100 --dead-letters-critical 10
  $ orderflow status --check --format prometheus > /var/lib/node_exporter/orderflow.prom`,
    );
  return addCheckOptions(cmd).action(async (flags: StatusFlags, command: Command) => {
    const ctx = commandContext(command, "status");
    if (flags.check) {
      process.exitCode = await runCheck(ctx, flags, flags.window);
      return;
    }
    const nc = await ctx.connect();
    const colours = Boolean(process.stdout.isTTY) && !flags.json;
    let server: ServerVersionInfo | undefined;
    const show = (r: StatusReport) => {
      if (flags.json) {
        const json = { ...statusJson(r), server };
        if (flags.watch) process.stdout.write(`${JSON.stringify(json)}\n`);
        else printJson(json);
        return;
      }
      const text = `server: ${server ? describeServerVersion(server) : "unknown"}\n${statusText(r, ctx.topology, colours)}`;
      process.stdout.write(flags.watch && process.stdout.isTTY ? `${CLEAR_SCREEN}${text}\n` : `${text}\n\n`);
    };
    try {
      const jsm = await jetstreamManager(nc);
      server = await readServerVersion(nc, jsm);
      const opts = { windowMs: flags.window, intervalMs: flags.interval };
      if (!flags.watch) {
        show(await measureStatus(jsm, ctx.topology, opts, ctx.signal));
        return;
      }
      const sampler = new StatusSampler(jsm, ctx.topology, opts, { logger: ctx.logger });
      sampler.on(show);
      sampler.onError((err) => {
        const line = err instanceof OrderflowError ? err.oneLine() : errorMessage(err);
        process.stderr.write(`orderflow: status unavailable: ${line}; retrying\n`);
      });
      await sampler.start();
      await untilAborted(ctx.signal);
      await sampler.stop();
    } finally {
      await nc.close();
    }
  });
}
