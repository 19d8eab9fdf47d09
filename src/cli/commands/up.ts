import { Command, Option } from "commander";
import { untilAborted } from "../../common/abort.js";
import { redactUrl } from "../../common/connection.js";
import { durationFlag } from "../../common/duration.js";
import { UsageError } from "../../common/errors.js";
import { resolveNatsEndpoint } from "../../runtime/nats-endpoint.js";
import { OrderflowSystem } from "../../runtime/system.js";
import {
  DEFAULT_UP_OPTIONS as D,
  DashboardAuth,
  InstallMode,
  ManagedServerMode,
  PARTS,
  type Part,
  partsToRun,
  type UpOptions,
  upOptions,
} from "../../runtime/up-options.js";
import { loadHandlerModule } from "../../stages/handler-module.js";
import { pipelineStage, type StageDefinition } from "../../stages/stage.js";
import type { StageTuning } from "../../stages/worker-options.js";
import { ServiceName } from "../../telemetry/tracing.js";
import { ChangeKind } from "../../topology/ensure.js";
import { stagesOf } from "../../topology/spec.js";
import { commandContext, commandTracing, intFlag } from "../context.js";
import { metricsOptionTable } from "../metrics-flags.js";
import { addOptionTable, type OptionTable, readOptionTable } from "../option-table.js";
import { readStageFlags, stageTuningFor, withStageFlags } from "../stage-flags.js";
import { traceUrlOptionTable } from "../trace-url-flag.js";

/** The flags of `up` besides its options: the handler modules it loads before anything starts. */
interface HandlerFlags {
  processorHandler?: string;
  dispatcherHandler?: string;
}

function onOffFlag(name: string): (v: string) => boolean {
  return (v) => {
    if (v === "on" || v === "off") return v === "on";
    throw new UsageError(`--${name} must be on or off, got "${v}"`);
  };
}

function hostListFlag(v: string): string[] {
  return v
    .split(",")
    .map((h) => h.trim())
    .filter((h) => h.length > 0);
}

/** `up`'s own flags, by the UpOptions key each one fills (the stage tuning comes from stage-flags). */
function upOptionTable(): OptionTable<UpOptions> {
  return {
    host: new Option("--host <host>", "dashboard interface").env("ORDERFLOW_HOST").default(D.host),
    port: new Option("--port <port>", "dashboard port (also /metrics, /healthz, /readyz); 0 picks a free one")
      .argParser(intFlag("port", 0, 65_535))
      .env("ORDERFLOW_PORT")
      .default(D.port),
    natsPort: new Option(
      "--nats-port <port>",
      "without --server: port probed on 127.0.0.1, and where a managed server listens",
    )
      .argParser(intFlag("nats-port", 0, 65_535))
      .env("ORDERFLOW_NATS_PORT")
      .default(D.natsPort),
    storeDir: new Option("--store-dir <dir>", "JetStream store of the managed server")
      .env("ORDERFLOW_STORE_DIR")
      .default(D.storeDir),
    sync: new Option(
      "--sync <always|duration>",
      "the managed server's JetStream sync_interval: always fsyncs before each PubAck (nats-server 2.10+); default the server's, 2m",
    )
      .argParser(syncFlag)
      .env("ORDERFLOW_SYNC"),
    indexDir: new Option(
      "--index-dir <dir>",
      "order index on disk (default <store-dir>/index); :memory: keeps it in the heap",
    ).env("ORDERFLOW_INDEX_DIR"),
    managedServer: new Option("--managed-server <mode>", "start a nats-server when none answers")
      .choices(Object.values(ManagedServerMode))
      .env("ORDERFLOW_MANAGED_SERVER")
      .default(D.managedServer),
    install: new Option(
      "--install <mode>",
      "when nats-server is missing: install it with apt-get/brew, never, or dry-run",
    )
      .choices(Object.values(InstallMode))
      .env("ORDERFLOW_INSTALL")
      .default(D.install),
    parts: new Option(
      "--workers <parts>",
      `parts run in this process (${PARTS.join(",")}, or none); with a pipeline file, its stage names and indexer`,
    )
      .argParser(partsFlag)
      .env("ORDERFLOW_WORKERS")
      .default(D.parts, "every stage and the indexer"),
    refreshMs: new Option(
      "--refresh <duration>",
      "how often the dashboard and gauges read the stream and consumers",
    )
      .argParser(durationFlag("refresh", { min: 100 }))
      .env("ORDERFLOW_REFRESH")
      .default(D.refreshMs, "1s"),
    publishForm: new Option("--publish-form <on|off>", "the dashboard's form that publishes test orders")
      .argParser(onOffFlag("publish-form"))
      .env("ORDERFLOW_PUBLISH_FORM")
      .default(D.publishForm, D.publishForm ? "on" : "off"),
    dashboardToken: new Option(
      "--dashboard-token <token>",
      "dashboard token for every route but /healthz and /readyz",
    ).env("ORDERFLOW_DASHBOARD_TOKEN"),
    dashboardReadonlyToken: new Option(
      "--dashboard-readonly-token <token>",
      "dashboard token that sees all, cannot publish or replay",
    ).env("ORDERFLOW_DASHBOARD_READONLY_TOKEN"),
    allowedHosts: new Option(
      "--allowed-hosts <names>",
      "host names the dashboard answers besides IPs and localhost, comma-separated",
    )
      .argParser(hostListFlag)
      .env("ORDERFLOW_ALLOWED_HOSTS"),
    dashboardAuth: new Option(
      "--dashboard-auth <token|none>",
      "none: serve the dashboard off loopback without a token, on purpose",
    )
      .choices(Object.values(DashboardAuth))
      .env("ORDERFLOW_DASHBOARD_AUTH")
      .default(D.dashboardAuth),
    ...metricsOptionTable(),
    ...traceUrlOptionTable(),
  };
}

/** "always", or a duration handed to nats-server in milliseconds ("10s" → "10000ms"). */
function syncFlag(value: string): string {
  return value.trim() === "always" ? "always" : `${durationFlag("sync", { min: 1 })(value)}ms`;
}

/** The words of --workers; which are stages is known once the pipeline is (partsToRun). */
function partsFlag(value: string): Part[] {
  const words = value
    .split(",")
    .map((w) => w.trim())
    .filter(Boolean);
  return words.length === 1 && words[0] === "none" ? [] : words;
}

export function upCommand(): Command {
  return addOptionTable(
    withStageFlags(
      new Command("up").description(
        "run the whole system: NATS (started if none answers), topology, processor, dispatcher, order index and the web dashboard",
      ),
    ),
    upOptionTable(),
  )
    .addOption(
      new Option(
        "--processor-handler <file>",
        "module whose handle(order, ctx) replaces the processor's",
      ).env("ORDERFLOW_PROCESSOR_HANDLER"),
    )
    .addOption(
      new Option(
        "--dispatcher-handler <file>",
        "module whose handle(order, ctx) replaces the dispatcher's",
      ).env("ORDERFLOW_DISPATCHER_HANDLER"),
    )
    .addHelpText(
      "after",
      `
Without --server or NATS_URL it uses the nats-server on 127.0.0.1:4222, or starts one there (store in
./.orderflow, stopped on exit); a missing nats-server is installed with apt-get or brew (--install).
Every option also comes from its environment variable (see docs/cli.md).

Examples:
  $ orderflow up                                   # then open http://127.0.0.1:8080/
  $ ORDERFLOW_DASHBOARD_TOKEN=$(openssl rand -hex 24) orderflow up -s nats://n1:4222 --host 0.0.0.0 --port 9000
  $ orderflow up --workers indexer                 # workers run elsewhere: orderflow worker processor
  $ orderflow up --metrics-port 9464               # /metrics, /healthz, /readyz also on a port of their own
  $ orderflow up --trace-url 'http://localhost:16686/trace/{traceId}'   # order lookup links to Jaeger

Ctrl-C drains in-flight orders, stops every part in reverse order and exits 0.`,
    )
    .action(async (flags: HandlerFlags & Record<string, unknown>, cmd: Command) => {
      const ctx = commandContext(cmd, "up");
      // Each flag once, parsed into its option's own type: what is left is to merge and check.
      const options = upOptions({ ...readOptionTable(upOptionTable(), flags), ...readStageFlags(flags) });
      const specs = stagesOf(ctx.topology);
      const parts = partsToRun(
        options.parts,
        specs.map((sp) => sp.name),
      );
      // The seed's two handler flags name its stages; a pipeline file names a module per stage.
      const flagged: Record<string, string | undefined> = {
        processor: flags.processorHandler,
        dispatcher: flags.dispatcherHandler,
      };
      for (const [name, file] of Object.entries(flagged)) {
        if (file !== undefined && !specs.some((sp) => sp.name === name)) {
          throw new UsageError(`--${name}-handler: the pipeline has no stage named ${name}`, {
            hint: `name a stage's module in ${ctx.pipelineFile ?? "the pipeline file"} (its handler field)`,
          });
        }
      }
      const stages: Record<string, StageDefinition> = {};
      const handlerFiles: Record<string, string> = {};
      const stageTuning: Record<string, Partial<StageTuning>> = {};
      // Before NATS is found or started: a broken module stops `up` with nothing to clean up.
      for (const spec of specs) {
        stageTuning[spec.name] = stageTuningFor(cmd, spec);
        const file = flagged[spec.name] ?? spec.handler;
        if (file === undefined || !parts.includes(spec.name)) continue;
        stages[spec.name] = await loadHandlerModule(file, pipelineStage(ctx.topology, spec));
        handlerFiles[spec.name] = file;
      }
      // Before NATS is found or started, as the modules: a tracing setting refused stops `up` with
      // nothing to clean up (and with nothing to export yet, nothing is lost when that fails).
      const tracing = await commandTracing(ctx, ServiceName.Up);
      const say = (line: string) => process.stdout.write(`${line}\n`);
      const endpoint = await resolveNatsEndpoint({
        explicit: ctx.serversGiven ? ctx.connectOptions.servers : undefined,
        natsPort: options.natsPort,
        storeDir: options.storeDir,
        sync: options.sync,
        managedServer: options.managedServer,
        install: options.install,
        logger: ctx.logger,
      });
      const description = redactUrl(endpoint.description);
      say(`NATS: ${description}`);
      try {
        // On a failed start, start() has already stopped what it started, the managed server included.
        const system = await OrderflowSystem.start(
          {
            connect: { ...ctx.connectOptions, servers: endpoint.servers },
            topology: ctx.topology,
            options,
            natsDescription: description,
            managed: endpoint.managed,
            stages,
            handlerFiles,
            stageTuning,
          },
          { logger: ctx.logger, tracing },
        );
        const changed = system.topologyChanges.filter((c) => c.kind !== ChangeKind.UpToDate);
        say(
          `topology: ${changed.length === 0 ? `${ctx.topology.stream} up to date` : changed.map((c) => `${c.object} ${c.kind === ChangeKind.Create ? "created" : "updated"}`).join(", ")}`,
        );
        say(`server: ${system.serverDescription}`);
        if (system.serverNotice) say(`note: ${system.serverNotice}`);
        say(`running: ${parts.length > 0 ? parts.join(", ") : "no workers"}, monitor feed, dashboard`);
        say(
          `dashboard: ${system.dashboardUrl}  (metrics: ${system.dashboardUrl}metrics, ready: ${system.dashboardUrl}readyz)`,
        );
        say("press Ctrl-C to stop");

        let failure: Error | undefined;
        const failed = system.failure.then((err) => {
          failure = err;
        });
        await untilAborted(ctx.signal, failed);
        // What ended the wait: a failure while stopping is stop()'s to report.
        const outcome = failure;
        say(outcome ? `stopping: ${outcome.message}` : "stopping: draining in-flight orders…");
        await system.stop();
        say("stopped");
        if (outcome) throw outcome;
      } finally {
        // After the drain: the last orders' spans are exported before the process ends.
        await tracing?.shutdown();
      }
    });
}
