import { spawn } from "node:child_process";
import { errorMessage, NatsInstallError, ServerBinaryMissingError } from "../common/errors.js";
import { findExecutable } from "../common/find-executable.js";
import { findNatsServerBinary } from "../common/nats-server.js";
import { InstallMode } from "./up-options.js";

/**
 * The fresh-machine path of `orderflow up`: when it must start a nats-server and none is installed,
 * it installs one with the system's package manager (saying what it runs), or stops with one line
 * that says how to get a server. Everything that touches the machine is injected, so a test can plan
 * and "run" an install without running apt-get.
 */

/** What the planner needs to know about the machine. */
export interface InstallHost {
  platform: NodeJS.Platform;
  /** Effective uid 0: apt-get runs without sudo. */
  isRoot: boolean;
  /** True when `name` is an executable on PATH. */
  hasCommand(name: string): boolean;
}

export interface InstallPlan {
  /** `apt-get` or `brew`. */
  manager: string;
  /** What the commands do, in words, for the operator. */
  description: string;
  /** Each command with its arguments, run in order. */
  commands: string[][];
  /** Extra environment for the commands. */
  env: Record<string, string>;
}

/** The install commands for this machine, or undefined when it has no package manager we may use. */
export function planNatsServerInstall(host: InstallHost): InstallPlan | undefined {
  if (host.platform === "linux" && host.hasCommand("apt-get") && (host.isRoot || host.hasCommand("sudo"))) {
    const sudo = host.isRoot ? [] : ["sudo"];
    return {
      manager: "apt-get",
      description: `installing the Debian/Ubuntu package nats-server with apt-get${host.isRoot ? "" : " (through sudo; it may ask for your password)"}`,
      commands: [
        [...sudo, "apt-get", "update"],
        [...sudo, "apt-get", "install", "-y", "nats-server"],
      ],
      env: { DEBIAN_FRONTEND: "noninteractive" },
    };
  }
  if ((host.platform === "darwin" || host.platform === "linux") && host.hasCommand("brew")) {
    return {
      manager: "brew",
      description: "installing nats-server with Homebrew",
      commands: [["brew", "install", "nats-server"]],
      env: {},
    };
  }
  return undefined;
}

/** The machine this process runs on. */
export function currentHost(env: NodeJS.ProcessEnv = process.env): InstallHost {
  return {
    platform: process.platform,
    isRoot: typeof process.geteuid === "function" && process.geteuid() === 0,
    hasCommand: (name) => findExecutable(name, { env }).path !== undefined,
  };
}

/** Runs one command with the terminal attached (sudo may prompt); resolves with its exit code. */
export function runCommand(command: string[], env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = command as [string, ...string[]];
    // Package-manager chatter goes to stderr so stdout keeps only orderflow's own lines.
    const child = spawn(file, args, { env: { ...process.env, ...env }, stdio: ["inherit", 2, 2] });
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

export interface EnsureBinaryDeps {
  host?: InstallHost;
  /** Finds the binary or throws ServerBinaryMissingError; default {@link findNatsServerBinary}. */
  find?: () => string;
  /** Runs one install command; default {@link runCommand}. */
  run?: (command: string[], env: Record<string, string>) => Promise<number>;
  /** Where the operator reads what happens; default stderr. */
  say?: (line: string) => void;
}

/**
 * The nats-server binary to run: the installed one, else (mode auto) one installed now with the
 * system package manager. Mode never stops with the manual instruction; dry-run prints the
 * commands it would run and stops.
 */
export async function ensureNatsServerBinary(
  mode: InstallMode,
  deps: EnsureBinaryDeps = {},
): Promise<string> {
  const find = deps.find ?? (() => findNatsServerBinary());
  const say = deps.say ?? ((line: string) => process.stderr.write(`${line}\n`));
  let missing: ServerBinaryMissingError;
  try {
    return find();
  } catch (err) {
    if (!(err instanceof ServerBinaryMissingError)) throw err;
    missing = err;
  }
  if (mode === InstallMode.Never) {
    throw new NatsInstallError(`${missing.message}, and --install is never`, { cause: missing });
  }
  const plan = planNatsServerInstall(deps.host ?? currentHost());
  if (!plan) {
    throw new NatsInstallError(
      `${missing.message}, and neither apt-get (as root or with sudo) nor brew is here`,
      {
        cause: missing,
      },
    );
  }
  const shown = plan.commands.map((c) => c.join(" ")).join(" && ");
  if (mode === InstallMode.DryRun) {
    say(`orderflow: nats-server is missing; would be ${plan.description}: ${shown}`);
    throw new NatsInstallError(`${missing.message} (dry run: nothing installed)`, { cause: missing });
  }
  say(`orderflow: nats-server is missing; ${plan.description}: ${shown}`);
  const run = deps.run ?? runCommand;
  for (const command of plan.commands) {
    let code: number;
    try {
      code = await run(command, plan.env);
    } catch (err) {
      throw new NatsInstallError(`could not run \`${command.join(" ")}\`: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    if (code !== 0) throw new NatsInstallError(`\`${command.join(" ")}\` failed with exit code ${code}`);
  }
  try {
    const binary = find();
    say(`orderflow: installed ${binary}`);
    return binary;
  } catch (err) {
    throw new NatsInstallError(`${plan.manager} finished but nats-server is still not found`, { cause: err });
  }
}
