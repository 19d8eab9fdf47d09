import type { Command, Option } from "commander";

/**
 * An options type's flags, declared once: each key of the options it fills, with the commander
 * Option that reads it (flag, environment variable, default, and a parser into the option's own
 * type). A command adds the table and reads it back into its options; there is no second list of
 * fields to keep in step (the shape commander and natscli give their flag structs).
 */
export type OptionTable<T> = { readonly [K in keyof T]?: Option };

export function addOptionTable<T>(cmd: Command, table: OptionTable<T>): Command {
  for (const o of Object.values(table) as Option[]) cmd.addOption(o);
  return cmd;
}

/** The options a table's flags were given (or defaulted to), by the options' own keys. */
export function readOptionTable<T>(table: OptionTable<T>, values: Record<string, unknown>): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [key, o] of Object.entries(table) as Array<[string, Option]>) {
    const v = values[o.attributeName()];
    if (v !== undefined) out[key] = v;
  }
  return out as Partial<T>;
}

/**
 * The options a table's flags were set to on the command line or in the environment, leaving out
 * defaults: what may override a setting from elsewhere (a pipeline file).
 */
export function readGivenOptionTable<T>(table: OptionTable<T>, cmd: Command): Partial<T> {
  const values = cmd.opts<Record<string, unknown>>();
  const out: Record<string, unknown> = {};
  for (const [key, o] of Object.entries(table) as Array<[string, Option]>) {
    const source = cmd.getOptionValueSource(o.attributeName());
    const v = values[o.attributeName()];
    // Undefined included: `--rate-limit 0` (no limit) must undo a file's limit.
    if (source === "cli" || source === "env") out[key] = v;
  }
  return out as Partial<T>;
}
