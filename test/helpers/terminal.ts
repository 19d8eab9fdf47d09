import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";

/** Whether util-linux `script` is here to give a command a real pseudo-terminal. */
export const hasScript = spawnSync("script", ["--version"]).status === 0;

const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`;

/**
 * Runs `argv` on a pseudo-terminal (stdin, stdout and stderr all on the pty, as a terminal has them).
 * `script` hands the command to `$SHELL -c`; `exec` makes the shell become the command, because a
 * shell left waiting in between gets the Ctrl-C too and dash then exits 130 whatever the command did.
 */
export function spawnOnTerminal(argv: string[], env: NodeJS.ProcessEnv): ChildProcessWithoutNullStreams {
  return spawn("script", ["-qfec", `exec ${argv.map(quote).join(" ")}`, "/dev/null"], {
    env: { ...env, SHELL: "/bin/sh" },
    stdio: ["pipe", "pipe", "pipe"],
  });
}
