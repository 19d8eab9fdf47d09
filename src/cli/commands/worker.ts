import { Command, Option } from "commander";
import { untilAborted } from "../../common/abort.js";
import { closeConnection } from "../../common/connection.js";
import { UnknownStageError } from "../../common/errors.js";
import { createStageWorker, WithoutIndex } from "../../runtime/create-stage-worker.js";
import { loadHandlerModule } from "../../stages/handler-module.js";
import { dispatcherStage, processorStage, type StageDefinition } from "../../stages/stage.js";
import { type CommandContext, commandContext } from "../context.js";
import { readStageFlags, withStageFlags } from "../stage-flags.js";

/** The flags of its own; the stage tuning is read through readStageFlags. */
interface WorkerFlags {
  msgIds: boolean;
  handler?: string;
}

const STAGES = { processor: processorStage, dispatcher: dispatcherStage } as const;
type StageName = keyof typeof STAGES;

export function workerCommand(): Command {
  return (
    withStageFlags(
      new Command("worker")
        .description(
          "run a pipeline stage: processor (NEW -> ORDERS.processed) or dispatcher (DISPATCH -> ORDERS.completed)",
        )
        .argument("<stage>", "processor | dispatcher"),
    )
      // Only for the control test that proves the fault tests detect duplicates.
      .addOption(
        new Option(
          "--handler <file>",
          "module (.js, .mjs, .ts) whose default export handle(order, ctx) replaces the stage's transformation",
        ).env("ORDERFLOW_HANDLER"),
      )
      .addOption(new Option("--no-msg-ids", "publish without Nats-Msg-Id (unsafe)").hideHelp())
      .addHelpText(
        "after",
        `
Examples:
  $ orderflow worker processor
  $ orderflow worker dispatcher --batch 500 --max-in-flight 1000 -s nats://n1:4222,nats://n2:4222
  $ orderflow worker processor --handler ./pricing.ts --handler-timeout 10s

Run as many instances as you like, on any machines: they share the consumer.
SIGINT/SIGTERM stops pulling, lets running handlers finish for up to --drain-timeout, gives the
rest back to the stream (nak, no delay) and exits 0; a second signal exits at once.`,
      )
      .action(async (name: string, flags: WorkerFlags, cmd: Command) => {
        if (!(name in STAGES)) {
          throw new UnknownStageError(name, ["processor", "dispatcher"]);
        }
        const ctx = commandContext(cmd, `worker-${name}`);
        const builtIn = STAGES[name as StageName](ctx.topology);
        // Before connecting: a broken module stops the command before anything is pulled.
        const stage = flags.handler ? await loadHandlerModule(flags.handler, builtIn) : builtIn;
        await runWorker(ctx, stage, flags);
      })
  );
}

async function runWorker(ctx: CommandContext, stage: StageDefinition, flags: WorkerFlags): Promise<void> {
  const nc = await ctx.connect();
  try {
    const worker = await createStageWorker(nc, stage, {
      ...readStageFlags({ ...flags }),
      topology: ctx.topology,
      inboxPrefix: ctx.connectOptions.inboxPrefix,
      msgIds: flags.msgIds,
      // An indexer run beside the workers may start after them.
      withoutIndex: WithoutIndex.Hold,
      logger: ctx.logger,
      handlerFile: flags.handler,
    });
    let fatal: Error | undefined;
    const failed = new Promise<void>((resolve) =>
      worker.once("fatal", (err) => {
        fatal = err;
        resolve();
      }),
    );
    await worker.start();
    await untilAborted(ctx.signal, failed);
    // What ended the wait: a failure while stopping is stop()'s to report.
    const outcome = fatal;
    await worker.stop();
    if (outcome) throw outcome;
  } finally {
    await closeConnection(nc, ctx.logger);
  }
}
