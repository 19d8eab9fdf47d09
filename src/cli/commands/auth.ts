import { writeFile } from "node:fs/promises";
import { basename } from "node:path";
import { Command } from "commander";
import { DEFAULT_ORDER_INDEXER_OPTIONS } from "../../orders/lookup-options.js";
import { pipelineServerConfig } from "../../topology/permissions.js";
import { commandContext } from "../context.js";

export function authCommand(): Command {
  return new Command("auth")
    .description(
      "print a least-privilege nats-server config for the pipeline: admin, intake, monitor and a user per stage",
    )
    .option("--out <file>", "write the config to <file> instead of printing it")
    .addHelpText(
      "after",
      `
Each stage's user may pull from its own consumer, ack its messages, publish its output subject and
dead letters, read its stream and consumer info and ask the order index, and subscribe only below
its own inbox prefix (_INBOX_<stage>); passwords come from ORDERFLOW_<USER>_PASSWORD variables.
For the seed's pipeline it grants what deploy/nats-server.conf grants.

Examples:
  $ orderflow auth --config examples/shop/orderflow.config.ts --out nats-server.conf
  $ nats-server -c nats-server.conf -sd /data/jetstream
  $ orderflow worker payer --config examples/shop/orderflow.config.ts \\
      -s nats://payer:$ORDERFLOW_PAYER_PASSWORD@host:4222 --inbox-prefix _INBOX_payer`,
    )
    .action(async (flags: { out?: string }, cmd: Command) => {
      const ctx = commandContext(cmd, "auth");
      const file = ctx.pipelineFile ? basename(ctx.pipelineFile) : undefined;
      const text = pipelineServerConfig(
        ctx.topology,
        {
          lookupSubject: DEFAULT_ORDER_INDEXER_OPTIONS.subject,
          queueGroup: DEFAULT_ORDER_INDEXER_OPTIONS.queueGroup,
        },
        file,
      );
      if (flags.out) {
        await writeFile(flags.out, text);
        process.stdout.write(
          `nats-server config for ${file ?? "the seed's pipeline"} written to ${flags.out}\n`,
        );
      } else {
        process.stdout.write(text);
      }
    });
}
