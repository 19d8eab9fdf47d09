import { writeFile } from "node:fs/promises";
import { SingleBar } from "cli-progress";
import { Command, Option } from "commander";
import { type BenchOptions, DEFAULT_BENCH_OPTIONS as D } from "../../bench/bench-options.js";
import { type BenchPipelineFile, pipelineOptionsProblem } from "../../bench/bench-pipeline.js";
import { markdownReport, reportRows } from "../../bench/report.js";
import { type BenchProgress, runBench } from "../../bench/run.js";
import { UsageError } from "../../common/errors.js";
import { printJson, table } from "../../common/format.js";
import { findNatsServerBinary, natsServerBinaryVersion } from "../../common/nats-server.js";
import { featuresOf } from "../../common/server-features.js";
import { loadHandlerModule } from "../../stages/handler-module.js";
import { dispatcherStage, pipelineStage, processorStage } from "../../stages/stage.js";
import { stagesOf } from "../../topology/spec.js";
import { commandContext, intFlag } from "../context.js";
import { stageOptionTable } from "../stage-flags.js";

interface BenchFlags extends BenchOptions {
  json?: boolean;
  out?: string;
}

/** The bench's counts: flag, what it sets, its key in BenchOptions, and its range. */
const COUNT_FLAGS: ReadonlyArray<[string, string, keyof BenchOptions, number, number]> = [
  ["orders", "orders in the throughput phase", "orders", 1, 100_000_000],
  ["rate", "offered orders/s in the latency phase (0 skips it)", "rate", 0, 1_000_000],
  ["latency-orders", "orders in the latency phase", "latencyOrders", 1, 10_000_000],
  ["processors", "processor worker processes", "processors", 1, 64],
  ["dispatchers", "dispatcher worker processes", "dispatchers", 1, 64],
];

function withCountFlags(cmd: Command): Command {
  for (const [flag, what, key, min, max] of COUNT_FLAGS) {
    cmd.addOption(new Option(`--${flag} <n>`, what).argParser(intFlag(flag, min, max)).default(D[key]));
  }
  return cmd;
}

export function benchCommand(): Command {
  return (
    withCountFlags(
      new Command("bench").description(
        "measure the pipeline as users run it: raw ingest bound, end-to-end throughput, latency, worker CPU/RSS",
      ),
    )
      // The workers' own --batch and --max-in-flight, declared once in stage-flags.
      .addOption(stageOptionTable().batch)
      .addOption(stageOptionTable().maxInFlight)
      .option("--no-ingest", "skip the raw ingest phase")
      .option(
        "--compare-seed <n>",
        "also time the seed's own Go workers (built from the seed text; needs Go + nats.go) on <n> orders",
        intFlag("compare-seed", 0, 10_000_000),
        D.compareSeed,
      )
      .option(
        "--processor-handler <file>",
        "handler module the processor workers run (their --handler), to benchmark your own logic",
      )
      .option("--dispatcher-handler <file>", "handler module the dispatcher workers run")
      .option(
        "--compare-built-in",
        "with a handler module: time the built-in stages too, in the same run, and print the ratio",
      )
      .option(
        "--compare-index",
        "time the throughput phase without and with an `orderflow indexer` reading the stream, and print the ratio",
      )
      .option(
        "--compare-sync",
        "time the throughput phase with the server's default sync_interval and with `always` (fsync before each PubAck; nats-server 2.10+), and print the ratio",
      )
      .option(
        "--cpu-prof <dir>",
        "write a V8 CPU profile of each worker into <dir> (open in Chrome DevTools)",
      )
      .option(
        "--no-rate-limits",
        "with a pipeline file: run its stages without the rate limits it declares (measure the pipeline, not a provider's quota)",
      )
      .option("--json", "print the result as JSON")
      .option("--out <file>", "write a Markdown report (e.g. docs/benchmarks.md)")
      .addOption(
        new Option("--publish-window <n>")
          .argParser(intFlag("publish-window", 1, 100_000))
          .default(D.publishWindow)
          .hideHelp(),
      )
      .addOption(
        new Option("--sample-ms <n>")
          .argParser(intFlag("sample-ms", 50, 60_000))
          .default(D.sampleMs)
          .hideHelp(),
      )
      .addHelpText(
        "after",
        `
By default it starts its own nats-server (fresh file store, loopback) and removes it afterwards;
pass --server to measure an existing one (the stream is deleted and recreated!).

Examples:
  $ orderflow bench                                  # 100,000 orders, 1 processor + 1 dispatcher
  $ orderflow bench --orders 1000000 --rate 0 --out docs/benchmarks-1m.md
  $ orderflow bench --processors 2 --dispatchers 2 --json
  $ orderflow bench --processor-handler examples/seed-processor.js --compare-built-in --rate 0 --no-ingest
  $ orderflow bench --otel --rate 0 --no-ingest   # throughput untraced, traced at 100% and at 1%
  $ orderflow bench --config examples/shop/orderflow.config.ts --no-rate-limits

With a pipeline file (--config, ORDERFLOW_CONFIG, or orderflow.config.* here) the bench runs one
\`orderflow worker <stage> --config <file>\` process per declared stage, each with its handler and
tuning from the file (--batch and --max-in-flight override it when given), publishes to the first
stage's input, times each order to the last stage's output and reports CPU per order by stage.

With --otel the bench times the throughput phase five more times on fresh workers: without
tracing, with 1% of orders sampled, 1% again, without again (so drift over the run weighs on both
alike), then with every order sampled, exporting over OTLP/HTTP to a sink of its own; it prints
orders/s and the workers' CPU per order for each.`,
      )
      .action(async (flags: BenchFlags, cmd: Command) => {
        const ctx = commandContext(cmd, "bench");
        if (flags.compareBuiltIn && !flags.processorHandler && !flags.dispatcherHandler) {
          throw new UsageError("--compare-built-in compares a handler module with the built-in stages", {
            hint: "add --processor-handler <file> and/or --dispatcher-handler <file>",
          });
        }
        if (flags.compareSync && ctx.serversGiven) {
          throw new UsageError("--compare-sync starts its own servers to set their sync_interval", {
            hint: "leave out --server (and NATS_URL)",
          });
        }
        if (flags.compareSync && !featuresOf(natsServerBinaryVersion(findNatsServerBinary())).syncInterval) {
          throw new UsageError("--compare-sync needs nats-server 2.10 or newer (sync_interval)", {
            hint: "set NATS_SERVER_BIN to a newer nats-server (`npm run versions` fetches 2.10 and 2.15)",
          });
        }
        const t = ctx.topology;
        const pipeline = ctx.pipelineFile ? pipelineOf(cmd, ctx.pipelineFile) : undefined;
        if (ctx.pipelineFile) {
          const problem = pipelineOptionsProblem(flags, t, ctx.pipelineFile, {
            processors: givenHere(cmd, "processors"),
            dispatchers: givenHere(cmd, "dispatchers"),
          });
          if (problem) throw problem;
        }
        // Loaded here first: a broken module is one line now, not a worker that fails to start.
        if (flags.processorHandler) await loadHandlerModule(flags.processorHandler, processorStage(t));
        if (flags.dispatcherHandler) await loadHandlerModule(flags.dispatcherHandler, dispatcherStage(t));
        if (pipeline) {
          for (const spec of stagesOf(t)) {
            if (spec.handler) await loadHandlerModule(spec.handler, pipelineStage(t, spec));
          }
        }
        // The global --otel, for the bench: the tracing comparison (the workers it starts trace; the
        // bench's own load generator does not, so the figures are the workers' cost).
        const result = await runBench(
          { ...flags, compareOtel: ctx.flags.otel === true },
          {
            connect: ctx.serversGiven ? ctx.connectOptions : undefined,
            topology: ctx.topology,
            logger: ctx.logger,
            progress: progressBar(!flags.json && process.stderr.isTTY === true),
            command: `orderflow ${process.argv.slice(2).join(" ")}`,
            signal: ctx.signal,
            ...(pipeline ? { pipeline } : {}),
          },
        );
        if (flags.out) await writeFile(flags.out, markdownReport(result));
        if (flags.json) {
          printJson(result);
        } else {
          process.stdout.write(`${table(["figure", "value"], reportRows(result))}\n`);
          if (flags.out) process.stdout.write(`report written to ${flags.out}\n`);
        }
        if (!result.throughput.verified.exact) process.exitCode = 1;
      })
  );
}

/** Whether the bench was given a flag itself (command line or environment), not its default. */
function givenHere(cmd: Command, attribute: string): boolean {
  const source = cmd.getOptionValueSource(attribute);
  return source === "cli" || source === "env";
}

/** The pipeline file the bench runs, and which of the workers' tuning flags it was given. */
function pipelineOf(cmd: Command, file: string): BenchPipelineFile {
  return { file, given: { batch: givenHere(cmd, "batch"), maxInFlight: givenHere(cmd, "maxInFlight") } };
}

/** A progress bar on a terminal; one line per phase otherwise (so logs and pipes stay readable). */
function progressBar(tty: boolean): BenchProgress {
  let bar: SingleBar | undefined;
  return {
    phase(name, total) {
      if (tty) {
        bar = new SingleBar({
          format: `${name.padEnd(18)} [{bar}] {percentage}% {value}/{total}`,
          stream: process.stderr,
        });
        bar.start(total, 0);
      } else {
        process.stderr.write(`bench: ${name} (${total.toLocaleString("en-US")})\n`);
      }
    },
    update(done) {
      bar?.update(done);
    },
    done() {
      bar?.stop();
      bar = undefined;
    },
  };
}
