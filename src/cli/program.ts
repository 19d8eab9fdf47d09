import { Command } from "commander";
import { VERSION } from "../common/version.js";
import { addGlobalOptions } from "./context.js";
import { addPipelineOption, readPipelineBeforeAction } from "./pipeline-flag.js";

type CommandFactory = () => Command;

/**
 * Every subcommand, one file each under commands/, loaded on demand: a worker process loads the
 * worker and nothing of the dashboard, wizard or benchmark (tens of MB of RSS saved per worker).
 * Order here is the order of `orderflow --help`.
 */
const COMMANDS: Record<string, () => Promise<CommandFactory>> = {
  up: async () => (await import("./commands/up.js")).upCommand,
  setup: async () => (await import("./commands/setup.js")).setupCommand,
  info: async () => (await import("./commands/info.js")).infoCommand,
  worker: async () => (await import("./commands/worker.js")).workerCommand,
  pub: async () => (await import("./commands/pub.js")).pubCommand,
  monitor: async () => (await import("./commands/monitor.js")).monitorCommand,
  status: async () => (await import("./commands/status.js")).statusCommand,
  order: async () => (await import("./commands/order.js")).orderCommand,
  "dead-letters": async () => (await import("./commands/dead-letters.js")).deadLettersCommand,
  indexer: async () => (await import("./commands/indexer.js")).indexerCommand,
  bench: async () => (await import("./commands/bench.js")).benchCommand,
  auth: async () => (await import("./commands/auth.js")).authCommand,
};

/** Short names a command also answers to (commander's alias), for loading the right file. */
const ALIASES: Record<string, string> = { dlq: "dead-letters" };

/** The root command with its global options and the subcommands `argv` may need. */
export async function buildProgram(argv: readonly string[] = process.argv): Promise<Command> {
  const program = new Command("orderflow")
    .description("Order pipeline on NATS JetStream: received -> processed -> completed")
    .version(VERSION)
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  addGlobalOptions(program);
  addPipelineOption(program);
  readPipelineBeforeAction(program);
  const typed = commandNameIn(program, argv.slice(2));
  const wanted = typed !== undefined ? (ALIASES[typed] ?? typed) : undefined;
  // Help, a typo or no command at all: load everything so commander can list and suggest.
  const names = wanted !== undefined && wanted in COMMANDS ? [wanted] : Object.keys(COMMANDS);
  const factories = await Promise.all(names.map((n) => (COMMANDS[n] as () => Promise<CommandFactory>)()));
  for (const factory of factories) program.addCommand(factory());
  pointToGlobalOptions(program);
  return program;
}

/**
 * Every subcommand's --help ends with the global options' names and where they are explained: its
 * examples use `-s`, and commander lists only a command's own options.
 */
function pointToGlobalOptions(program: Command): void {
  const names = program.options
    .filter((o) => o.long !== "--version")
    .map((o) => (o.short ? `${o.short}/${o.long}` : o.long));
  const text = `\nGlobal options, for every command (see \`orderflow --help\`):\n${wrap(names.join(", "), 2, 100)}`;
  const walk = (cmd: Command) => {
    for (const sub of cmd.commands) {
      sub.addHelpText("after", text);
      walk(sub);
    }
  };
  walk(program);
}

function wrap(words: string, indent: number, width: number): string {
  const lines: string[] = [];
  let line = "";
  for (const word of words.split(" ")) {
    if (line && line.length + word.length + 1 > width - indent) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.map((l) => `${" ".repeat(indent)}${l}`).join("\n");
}

/** The first argument that is neither a global option nor the value of one. */
function commandNameIn(program: Command, args: readonly string[]): string | undefined {
  const takesValue = new Set<string>();
  for (const o of program.options) {
    if (o.required || o.optional) {
      if (o.long) takesValue.add(o.long);
      if (o.short) takesValue.add(o.short);
    }
  }
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (!a.startsWith("-")) return a;
    if (!a.includes("=") && takesValue.has(a)) i++;
  }
  return undefined;
}
