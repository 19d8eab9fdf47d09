import { CommanderError } from "commander";
import { OrderflowError } from "../common/errors.js";

/**
 * Turns any error that reached the top into one line on stderr and an exit code. Stack traces only
 * with --debug: operators need what failed and how to fix it, not our internals.
 */
export function reportError(err: unknown, debug: boolean): number {
  if (err instanceof CommanderError) {
    // commander already printed its own one-line message (unknown option, missing argument, …).
    return err.exitCode;
  }
  if (err instanceof OrderflowError) {
    process.stderr.write(`orderflow: ${err.oneLine()}\n`);
  } else {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`orderflow: unexpected error: ${message} (rerun with --debug for details)\n`);
  }
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return 1;
}
