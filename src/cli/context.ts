import type { NatsConnection } from "@nats-io/nats-core";
import { type Command, Option } from "commander";
import { type ConnectOptions, connect, DEFAULT_SERVER_URL, parseServerList } from "../common/connection.js";
import { UsageError } from "../common/errors.js";
import { createLogger, LOG_FORMATS, type LogFormat, type Logger } from "../common/logger.js";
import { loadNatsContext, type NatsContext } from "../common/nats-context.js";
import type { Tracing } from "../common/tracing.js";
import { startTracing } from "../telemetry/tracing.js";
import { DEFAULT_TOPOLOGY, type TopologyOptions, topologyOptions } from "../topology/spec.js";
import { pipelineFile } from "./pipeline-flag.js";

/** Flags every command shares (set on the root program, read with `optsWithGlobals()`). */
export interface GlobalFlags {
  /** Undefined when neither --server nor NATS_URL is given (the context's url, else the default, applies). */
  server?: string;
  context?: string;
  user?: string;
  password?: string;
  token?: string;
  creds?: string;
  nkey?: string;
  tlscert?: string;
  tlskey?: string;
  tlsca?: string;
  inboxPrefix?: string;
  stream: string;
  subjectPrefix: string;
  logLevel: string;
  logFormat: string;
  debug?: boolean;
  /** `--otel`: trace with OpenTelemetry even when no OTEL_* variable asks for it. */
  otel?: boolean;
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

export function addGlobalOptions(program: Command): Command {
  return program
    .addOption(
      new Option(
        "-s, --server <urls>",
        `NATS server URLs, comma-separated (default: the nats context's url, else ${DEFAULT_SERVER_URL})`,
      ).env("NATS_URL"),
    )
    .addOption(
      new Option(
        "--context <name>",
        "nats CLI context to connect with (default: the one `nats context select` chose)",
      ).env("NATS_CONTEXT"),
    )
    .addOption(new Option("--user <user>", "username").env("NATS_USER"))
    .addOption(new Option("--password <password>", "password").env("NATS_PASSWORD"))
    .addOption(new Option("--token <token>", "auth token").env("NATS_TOKEN"))
    .addOption(new Option("--creds <file>", "user credentials file (JWT + seed)").env("NATS_CREDS"))
    .addOption(new Option("--nkey <file>", "nkey seed file").env("NATS_NKEY"))
    .addOption(new Option("--tlscert <file>", "TLS client certificate").env("NATS_CERT"))
    .addOption(new Option("--tlskey <file>", "TLS client key").env("NATS_KEY"))
    .addOption(new Option("--tlsca <file>", "CA to verify the server's certificate").env("NATS_CA"))
    .addOption(
      new Option("--inbox-prefix <prefix>", "reply inbox prefix (least-privilege users)").env(
        "ORDERFLOW_INBOX_PREFIX",
      ),
    )
    .addOption(
      new Option("--stream <name>", "stream name").env("ORDERFLOW_STREAM").default(DEFAULT_TOPOLOGY.stream),
    )
    .addOption(
      new Option("--subject-prefix <prefix>", "subject prefix: the stream takes <prefix>.*")
        .env("ORDERFLOW_SUBJECT_PREFIX")
        .default(DEFAULT_TOPOLOGY.subjectPrefix),
    )
    .addOption(
      new Option("--log-level <level>", "log level")
        .choices(LOG_LEVELS)
        .env("ORDERFLOW_LOG_LEVEL")
        .default("info"),
    )
    .addOption(
      new Option(
        "--log-format <format>",
        "log lines: pretty (for people), json (for machines); auto: pretty on a terminal",
      )
        .choices(LOG_FORMATS)
        .env("ORDERFLOW_LOG_FORMAT")
        .default("auto"),
    )
    .option("--debug", "print stack traces on errors")
    .addOption(
      new Option(
        "--otel",
        "trace orders with OpenTelemetry (OTLP to OTEL_EXPORTER_OTLP_ENDPOINT, default http://localhost:4318); also on when OTEL_TRACES_EXPORTER or an OTLP endpoint is set",
      ),
    );
}

/**
 * This command's tracing when `--otel` or the OTEL_* environment turns it on (nothing of
 * OpenTelemetry is loaded otherwise); the command shuts it down on its way out, which exports what
 * is still buffered.
 */
export function commandTracing(ctx: CommandContext, serviceName: string): Promise<Tracing | undefined> {
  return startTracing({ serviceName, flag: ctx.flags.otel, logger: ctx.logger });
}

/** What a command needs from the global flags, resolved once. */
export interface CommandContext {
  flags: GlobalFlags;
  logger: Logger;
  topology: TopologyOptions;
  connectOptions: ConnectOptions;
  /** The pipeline file in use (`--config`, ORDERFLOW_CONFIG or found here); undefined: the seed's. */
  pipelineFile: string | undefined;
  /** The nats CLI context in use, if any. */
  natsContext: NatsContext | undefined;
  /** True when --server, NATS_URL or the context named the servers (`up` then never starts one). */
  serversGiven: boolean;
  /** Connects with this command's connection name; the caller closes it. */
  connect(): Promise<NatsConnection>;
  /** Aborted on the first SIGINT/SIGTERM (wired in main.ts). */
  signal: AbortSignal;
}

let shutdownSignal: AbortSignal = new AbortController().signal;

/** Called once by main.ts with the signal its SIGINT/SIGTERM handlers abort. */
export function setShutdownSignal(signal: AbortSignal): void {
  shutdownSignal = signal;
}

export function commandContext(
  cmd: Command,
  name: string,
  topology: Partial<TopologyOptions> = {},
): CommandContext {
  const flags = cmd.optsWithGlobals<GlobalFlags>();
  if (!LOG_LEVELS.includes(flags.logLevel)) throw new UsageError(`bad --log-level "${flags.logLevel}"`);
  if (!LOG_FORMATS.includes(flags.logFormat)) throw new UsageError(`bad --log-format "${flags.logFormat}"`);
  const logger = createLogger({
    level: flags.logLevel as "info",
    format: flags.logFormat === "auto" ? undefined : (flags.logFormat as LogFormat),
  }).child({ cmd: name });
  const natsContext = loadNatsContext(
    flags.context,
    cmd.getOptionValueSourceWithGlobals("context") === "cli" ? "flag" : "env",
  );
  // Precedence, as the nats CLI has it: a flag, then its environment variable (commander has
  // already picked between those two), then the context, then the default.
  const context = natsContext?.settings ?? {};
  // Credentials in an explicit --server URL are flags too: the context's user, password and token
  // then stay out (merging them would report the context's user as disagreeing with the URL's).
  const urlCredentials = flags.server !== undefined && /\/\/[^/@]+@/.test(flags.server);
  const c = urlCredentials ? { ...context, user: undefined, password: undefined, token: undefined } : context;
  const servers = flags.server ?? c.servers;
  const connectOptions: ConnectOptions = {
    servers: parseServerList(servers ?? DEFAULT_SERVER_URL),
    name: `orderflow-${name}`,
    user: flags.user ?? c.user,
    password: flags.password ?? c.password,
    token: flags.token ?? c.token,
    creds: flags.creds ?? c.creds,
    nkey: flags.nkey ?? c.nkey,
    tlsCert: flags.tlscert ?? c.tlsCert,
    tlsKey: flags.tlskey ?? c.tlsKey,
    tlsCa: flags.tlsca ?? c.tlsCa,
    inboxPrefix: flags.inboxPrefix ?? c.inboxPrefix,
    contextFile: natsContext?.file,
  };
  return {
    flags,
    logger,
    topology: commandTopology(cmd, flags, topology),
    pipelineFile: pipelineFile()?.file,
    connectOptions,
    natsContext,
    serversGiven: servers !== undefined,
    connect: () => connect(connectOptions, logger),
    signal: shutdownSignal,
  };
}

/**
 * The topology a command works on: the pipeline file's, with `--stream` and `--subject-prefix`
 * laid over it when given on the command line or in the environment, then the caller's own.
 */
function commandTopology(
  cmd: Command,
  flags: GlobalFlags,
  overrides: Partial<TopologyOptions>,
): TopologyOptions {
  const given = (name: string) => {
    const source = cmd.getOptionValueSourceWithGlobals(name);
    return source === "cli" || source === "env";
  };
  const declared = pipelineFile()?.topology ?? {};
  return topologyOptions({
    ...declared,
    ...(given("stream") || !("stream" in declared) ? { stream: flags.stream } : {}),
    ...(given("subjectPrefix") || !("subjectPrefix" in declared)
      ? { subjectPrefix: flags.subjectPrefix }
      : {}),
    ...overrides,
  });
}

/** Parses a whole number flag, with a one-line error naming the flag. */
export function intFlag(name: string, min: number, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got "${v}"`);
    }
    return n;
  };
}
