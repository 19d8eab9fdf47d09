import { Command } from "commander";
import { indexerCommand } from "./commands/indexer.js";
import { infoCommand } from "./commands/info.js";
import { monitorCommand } from "./commands/monitor.js";
import { orderCommand } from "./commands/order.js";
import { pubCommand } from "./commands/pub.js";
import { setupCommand } from "./commands/setup.js";
import { statusCommand } from "./commands/status.js";
import { workerCommand } from "./commands/worker.js";
import { addGlobalOptions } from "./context.js";

export const VERSION = "0.1.0";

/** The root command. Each subcommand lives in its own file under commands/ and is added here. */
export function buildProgram(): Command {
  const program = new Command("orderflow")
    .description("Order pipeline on NATS JetStream: received -> processed -> completed")
    .version(VERSION)
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  addGlobalOptions(program);
  program.addCommand(setupCommand());
  program.addCommand(infoCommand());
  program.addCommand(pubCommand());
  program.addCommand(monitorCommand());
  program.addCommand(statusCommand());
  program.addCommand(orderCommand());
  program.addCommand(indexerCommand());
  program.addCommand(workerCommand());
  return program;
}
