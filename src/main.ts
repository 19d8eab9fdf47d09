#!/usr/bin/env node
import { setShutdownSignal } from "./cli/context.js";
import { buildProgram } from "./cli/program.js";
import { reportError } from "./cli/report-error.js";

const debug = process.argv.includes("--debug");

// The one place signals are wired: the first SIGINT/SIGTERM asks every long-running part to drain
// and stop (commands watch the abort signal); a second one exits at once.
const shutdown = new AbortController();
setShutdownSignal(shutdown.signal);
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    if (shutdown.signal.aborted) {
      process.stderr.write(`orderflow: second ${sig}, exiting without draining\n`);
      process.exit(130);
    }
    shutdown.abort(sig);
  });
}

try {
  await buildProgram().parseAsync(process.argv);
  process.exitCode = process.exitCode ?? 0;
} catch (err) {
  process.exitCode = reportError(err, debug);
}
