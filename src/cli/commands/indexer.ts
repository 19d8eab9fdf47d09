import { Command } from "commander";
import { untilAborted } from "../../common/abort.js";
import { formatNumber } from "../../common/format.js";
import { DEFAULT_ORDER_INDEXER_OPTIONS } from "../../orders/lookup-options.js";
import { OrderIndexer } from "../../orders/order-indexer.js";
import { commandContext } from "../context.js";

export function indexerCommand(): Command {
  return new Command("indexer")
    .description("keep the order index in memory and answer `orderflow order` lookups (runs until Ctrl-C)")
    .option("--subject <subject>", "lookup subject", DEFAULT_ORDER_INDEXER_OPTIONS.subject)
    .addHelpText(
      "after",
      `
It reads the stream once with an ordered push consumer (ephemeral, no acks, nothing written, delivered
below --inbox-prefix), then follows new messages: one extra delivery per message for this process,
~120 bytes of memory per order. Several indexers share lookups (queue group orderflow-indexer). It
answers only askers whose reply inbox starts with _INBOX. The read-only monitor user of
deploy/nats-server.conf may run it.

Examples:
  $ orderflow indexer &
  $ orderflow order 100001
  $ orderflow indexer -s nats://monitor:$PW@host:4222 --inbox-prefix _INBOX_monitor`,
    )
    .action(async (flags: { subject: string }, cmd: Command) => {
      const ctx = commandContext(cmd, "indexer");
      const nc = await ctx.connect();
      const indexer = new OrderIndexer(
        nc,
        ctx.topology,
        { subject: flags.subject, inboxPrefix: ctx.connectOptions.inboxPrefix },
        { logger: ctx.logger },
      );
      try {
        await indexer.start();
        void indexer.ready().then(() => {
          const s = indexer.stats();
          process.stdout.write(
            `order index ready: ${formatNumber(s.orders)} orders from ${formatNumber(s.messages)} messages (through seq ${formatNumber(s.indexedThrough)}), answering on ${flags.subject}\n`,
          );
        });
        // A closed connection (never by reconnects: those go on forever) ends the indexer too.
        await untilAborted(ctx.signal, nc.closed());
      } finally {
        await indexer.stop();
        if (!nc.isClosed()) await nc.close();
      }
    });
}
