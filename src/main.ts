#!/usr/bin/env -S node --max-semi-space-size=8
// The shebang caps V8's young generation at 8 MB per semi-space (Node 20 lets it grow to 16 MB): a
// stage worker allocates short-lived objects per order, and at full load the default young space
// alone took a worker past 120 MB RSS. At 8 MB the bench measured the same throughput and ~15 MB less
// RSS. V8 reads this flag only at start-up, hence the shebang (and NODE_FLAGS in runtime-flags.ts
// for processes we spawn with `node dist/main.js`).
import { setShutdownSignal } from "./cli/context.js";
import { buildProgram } from "./cli/program.js";
import { reportError } from "./cli/report-error.js";
import * as library from "./index.js";

// A CommonJS handler's require("orderflow") gets this process's own library (see index.cts), so a
// handler shares its classes with the worker that runs it.
(globalThis as Record<symbol, unknown>)[Symbol.for("orderflow.library")] = library;

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
  await (await buildProgram(process.argv)).parseAsync(process.argv);
  process.exitCode = process.exitCode ?? 0;
} catch (err) {
  process.exitCode = reportError(err, debug);
}
// Every command closes what it opened, so the process normally ends here by itself. Should a handle
// outlive its command (a connection still reconnecting after a failed close), do not hang: exit once
// stdout and stderr have had a moment to flush. unref() keeps this timer from holding the process.
setTimeout(() => process.exit(), 3_000).unref();
