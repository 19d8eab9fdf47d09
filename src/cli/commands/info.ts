import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { Command } from "commander";
import { printJson } from "../../common/format.js";
import { describeServerVersion, readServerVersion } from "../../common/server-features.js";
import { describeConsumer, describeStream } from "../../topology/describe.js";
import { readTopology } from "../../topology/read.js";
import { commandContext } from "../context.js";

export function infoCommand(): Command {
  return new Command("info")
    .description("show the stream and its consumers: configuration and state")
    .option("--json", "print stream and consumer info as JSON")
    .addHelpText(
      "after",
      `
Examples:
  $ orderflow info
  $ orderflow info --json | jq '.consumers[] | {name, num_pending}'`,
    )
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const ctx = commandContext(cmd, "info");
      const nc = await ctx.connect();
      try {
        const jsm: JetStreamManager = await jetstreamManager(nc);
        const { stream, consumers } = await readTopology(jsm, ctx.topology);
        const server = await readServerVersion(nc, jsm);
        if (flags.json) {
          printJson({ server, stream, consumers });
          return;
        }
        const blocks = [
          `Server: ${describeServerVersion(server)}`,
          describeStream(stream),
          ...consumers.map(describeConsumer),
        ];
        process.stdout.write(`${blocks.join("\n\n")}\n`);
      } finally {
        await nc.close();
      }
    });
}
