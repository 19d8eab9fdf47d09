import { Command } from "commander";
import { infoCommand } from "./commands/info.js";
import { setupCommand } from "./commands/setup.js";
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
  return program;
}
