import { Command, Option } from "commander";
import { untilAborted } from "../../common/abort.js";
import { formatNumber } from "../../common/format.js";
import { DEFAULT_ORDER_INDEXER_OPTIONS } from "../../orders/lookup-options.js";
import { OrderIndexer } from "../../orders/order-indexer.js";
import { ConnectionTracker } from "../../runtime/connection-tracker.js";
import { assessIndexerReadiness } from "../../telemetry/health.js";
import { BUILT_IN_HANDLER_LABEL, OrderflowMetrics } from "../../telemetry/metrics.js";
import { startMetricsServer } from "../../telemetry/metrics-server.js";
import { type CommandContext, commandContext } from "../context.js";
import { readMetricsFlags, withMetricsFlags } from "../metrics-flags.js";

export function indexerCommand(): Command {
  return withMetricsFlags(
    new Command("indexer").description(
      "keep the order index on disk and answer `orderflow order` lookups (runs until Ctrl-C)",
    ),
  )
    .option("--subject <subject>", "lookup subject", DEFAULT_ORDER_INDEXER_OPTIONS.subject)
    .addOption(
      new Option(
        "--index-dir <dir>",
        "directory of the index on disk (one process each); :memory: keeps it in the heap",
      )
        .env("ORDERFLOW_INDEX_DIR")
        .default(DEFAULT_ORDER_INDEXER_OPTIONS.indexDir),
    )
    .addHelpText(
      "after",
      `
It reads the stream with an ordered push consumer (ephemeral, no acks, nothing written to NATS,
delivered below --inbox-prefix) and keeps order number -> messages in LevelDB under --index-dir,
with the stream position it has read: a restart (kill -9 included) resumes there instead of reading
the stream again, and memory stays flat however long the stream. Several indexers (hosts), each with
its own directory, share lookups (queue group orderflow-indexer). It
answers only askers whose reply inbox starts with _INBOX. The read-only monitor user of
deploy/nats-server.conf may run it.

Examples:
  $ orderflow indexer &
  $ orderflow order 100001
  $ orderflow indexer -s nats://monitor:$PW@host:4222 --inbox-prefix _INBOX_monitor
  $ orderflow indexer --metrics-port 9464     # /metrics, /healthz, /readyz (ready once caught up)`,
    )
    .action(async (flags: IndexerFlags & Record<string, unknown>, cmd: Command) => {
      const ctx = commandContext(cmd, "indexer");
      const listen = readMetricsFlags(flags);
      // Only with a listener: the default process metrics run timers nobody would read.
      const metrics =
        listen.metricsPort === undefined ? undefined : new OrderflowMetrics({ pipeline: false });
      const connections = new ConnectionTracker(ctx.logger);
      if (metrics) connections.on((s) => metrics.recordConnection(s));
      const running: { indexer?: OrderIndexer; started: boolean } = { started: false };
      // Before connecting: a port in use stops the command at once, and probes get an answer.
      const server = metrics
        ? await startMetricsServer(
            listen,
            {
              metrics,
              readiness: () => {
                const s = running.indexer?.stats();
                return assessIndexerReadiness(connections.all(), {
                  caughtUp: running.started && s?.caughtUp === true,
                  reading: s?.reading ?? true,
                });
              },
            },
            ctx.logger,
          )
        : undefined;
      try {
        await runIndexer(ctx, flags, { metrics, connections, running });
      } finally {
        // After the indexer stopped: a last scrape still answers.
        await server?.stop();
      }
    });
}

interface IndexerFlags {
  subject: string;
  indexDir: string;
}

async function runIndexer(
  ctx: CommandContext,
  flags: IndexerFlags,
  t: {
    metrics: OrderflowMetrics | undefined;
    connections: ConnectionTracker;
    running: { indexer?: OrderIndexer; started: boolean };
  },
): Promise<void> {
  const nc = await ctx.connect();
  t.connections.track(ctx.connectOptions.name, nc);
  const indexer = new OrderIndexer(
    nc,
    ctx.topology,
    { subject: flags.subject, inboxPrefix: ctx.connectOptions.inboxPrefix, indexDir: flags.indexDir },
    { logger: ctx.logger },
  );
  t.running.indexer = indexer;
  t.metrics?.recordBuild({
    stage: "indexer",
    handler: BUILT_IN_HANDLER_LABEL,
    natsServerVersion: () => nc.info?.version ?? "",
  });
  t.metrics?.readIndex(() => indexer.stats());
  try {
    await indexer.start();
    t.running.started = true;
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
}
