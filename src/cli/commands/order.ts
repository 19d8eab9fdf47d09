import { Command } from "commander";
import { durationFlag } from "../../common/duration.js";
import { printJson } from "../../common/format.js";
import {
  DEFAULT_ORDER_LOOKUP_OPTIONS,
  type TraceLinkOptions,
  traceLinkOptions,
} from "../../orders/lookup-options.js";
import { lookupOrder } from "../../orders/order-lookup.js";
import { coverageText, timelineJson, timelineText } from "../../orders/timeline-text.js";
import { commandContext, intFlag } from "../context.js";
import { addOptionTable, readOptionTable } from "../option-table.js";
import { traceUrlOptionTable } from "../trace-url-flag.js";

interface OrderFlags {
  json?: boolean;
  scanLast: number;
  indexTimeout: number;
}

export function orderCommand(): Command {
  return addOptionTable(new Command("order"), traceUrlOptionTable())
    .description(
      "the timeline of one order: each step it reached (the pipeline's, with --config), when, its stream sequence, and why it failed",
    )
    .argument("<orderNo>", "the order number, as published to ORDERS.received")
    .option("--json", "print the timeline as JSON")
    .option(
      "--scan-last <n>",
      "without an order index, search at most this many of the newest messages",
      intFlag("scan-last", 0),
      DEFAULT_ORDER_LOOKUP_OPTIONS.scanLast,
    )
    .option(
      "--index-timeout <duration>",
      "how long to wait for the order index",
      durationFlag("index-timeout", { min: 1 }),
      DEFAULT_ORDER_LOOKUP_OPTIONS.indexTimeoutMs,
    )
    .addHelpText(
      "after",
      `
It asks the order index (\`orderflow indexer\`, on subject orderflow.index.lookup) and fetches the
order's messages by sequence: instant on any stream size. Without an index it scans the newest
--scan-last messages and says that older events may be missing. Exit code 1 when not found.
A message published with tracing on shows its trace id; --trace-url makes each a link.
The read-only monitor user of deploy/nats-server.conf may run it (with --inbox-prefix _INBOX_monitor).

Examples:
  $ orderflow order 100001
  $ orderflow order 100001 --json | jq '.entries[] | {stage, seq, sincePreviousMs}'
  $ orderflow order 100001 --trace-url 'http://localhost:16686/trace/{traceId}'`,
    )
    .action(async (orderNo: string, flags: OrderFlags & Record<string, unknown>, cmd: Command) => {
      const ctx = commandContext(cmd, "order");
      const links = traceLinkOptions(readOptionTable<TraceLinkOptions>(traceUrlOptionTable(), flags));
      const nc = await ctx.connect();
      try {
        const lookup = await lookupOrder(
          nc,
          ctx.topology,
          orderNo,
          {
            scanLast: flags.scanLast,
            indexTimeoutMs: flags.indexTimeout,
            inboxPrefix: ctx.connectOptions.inboxPrefix,
          },
          { signal: ctx.signal, logger: ctx.logger },
        );
        if (flags.json) printJson(timelineJson(lookup, links));
        else if (lookup.entries.length > 0) process.stdout.write(`${timelineText(lookup, links)}\n`);
        if (lookup.notice) process.stderr.write(`orderflow: ${lookup.notice}\n`);
        if (lookup.entries.length === 0) {
          if (!flags.json) {
            process.stderr.write(
              `orderflow: order ${JSON.stringify(orderNo)} not found (${coverageText(lookup.coverage)}); check the number, or publish it with \`orderflow pub\`\n`,
            );
          }
          process.exitCode = 1;
        }
      } finally {
        await nc.close();
      }
    });
}
