import { readFileSync } from "node:fs";
import {
  type Authenticator,
  credsAuthenticator,
  type NatsConnection,
  type ConnectionOptions as NatsConnectionOptions,
  nkeyAuthenticator,
  PermissionViolationError,
} from "@nats-io/nats-core";
import { connect as natsConnect } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { ConnectionError, errorMessage, OrderflowError, PermissionError, UsageError } from "./errors.js";
import { NatsFailure, natsFailure } from "./nats-errors.js";
import { mergeCredential, splitUrlCredentials } from "./url-credentials.js";

/** The URL every command uses when neither `--server` nor `$NATS_URL` says otherwise. */
export const DEFAULT_SERVER_URL = "nats://127.0.0.1:4222";

/**
 * How a command reaches NATS. Flag names follow the nats CLI (`--server`, `--user`, `--creds`, …);
 * each also comes from the environment variable the nats CLI reads.
 */
export interface ConnectOptions {
  /** Server URLs; default `$NATS_URL` split on commas, else {@link DEFAULT_SERVER_URL}. */
  servers: string[];
  /** Connection name shown by the server's monitoring (`orderflow-<command>`). */
  name: string;
  user?: string;
  password?: string;
  token?: string;
  /** Path of a `.creds` file (JWT + nkey seed). */
  creds?: string;
  /** Path of a file holding an nkey seed. */
  nkey?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  /** Reply-inbox prefix; least-privilege users may only subscribe below their own. Default `_INBOX`. */
  inboxPrefix?: string;
  /** The nats CLI context file some of these came from, so connection errors can point at it. */
  contextFile?: string;
}

export function defaultServers(env: NodeJS.ProcessEnv = process.env): string[] {
  return parseServerList(env.NATS_URL ?? DEFAULT_SERVER_URL);
}

export function parseServerList(value: string): string[] {
  const servers = value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (servers.length === 0)
    throw new UsageError(`no server URL in "${value}"`, { hint: "pass --server nats://host:4222" });
  for (const s of servers) {
    if (!/^(nats|tls):\/\/[^\s/]+$|^[^\s:/]+(:\d+)?$/.test(s)) {
      throw new UsageError(`bad server URL "${s}"`, {
        hint: "use nats://host:port, several joined by commas",
      });
    }
  }
  return servers;
}

/** Strips credentials so URLs can be printed. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}

function readFile(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`cannot read ${what} file ${path}: ${errorMessage(err)}`);
  }
}

export function toNatsOptions(opts: ConnectOptions): NatsConnectionOptions {
  const authenticators: Authenticator[] = [];
  if (opts.creds) authenticators.push(credsAuthenticator(readFile(opts.creds, "credentials")));
  if (opts.nkey) {
    const seed = new TextDecoder().decode(readFile(opts.nkey, "nkey seed")).trim();
    authenticators.push(nkeyAuthenticator(new TextEncoder().encode(seed)));
  }
  const tls =
    opts.tlsCert || opts.tlsKey || opts.tlsCa
      ? { certFile: opts.tlsCert, keyFile: opts.tlsKey, caFile: opts.tlsCa }
      : undefined;
  const fromUrl = splitUrlCredentials(opts.servers);
  return {
    servers: fromUrl.servers,
    name: opts.name,
    user: mergeCredential("user", opts.user, fromUrl.user),
    pass: mergeCredential("password", opts.password, fromUrl.password),
    token: mergeCredential("token", opts.token, fromUrl.token),
    authenticator: authenticators.length > 0 ? authenticators : undefined,
    tls,
    inboxPrefix: opts.inboxPrefix,
    // Orders must survive outages of any length: a closed connection ends consume() iterators
    // silently, so we never give up reconnecting and watch closed() instead.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    pingInterval: 10_000,
    // A TLS server that silently drops a client without a certificate would otherwise keep a
    // command waiting 20 s before it can say what is wrong.
    timeout: 5_000,
  };
}

/**
 * Connects once; an unreachable server fails at once with a ConnectionError carrying the fix, rather
 * than waiting forever (reconnects only apply after the first successful connect).
 */
export async function connect(opts: ConnectOptions, logger?: Logger): Promise<NatsConnection> {
  let nc: NatsConnection;
  try {
    nc = await natsConnect(toNatsOptions(opts));
  } catch (err) {
    throw toConnectionError(opts.servers, err, opts.contextFile);
  }
  if (logger) watchConnection(nc, logger);
  return nc;
}

export function toConnectionError(
  servers: readonly string[],
  err: unknown,
  contextFile?: string,
): OrderflowError {
  if (err instanceof OrderflowError) return err;
  const shown = servers.map(redactUrl);
  const message = errorMessage(err);
  // Settings from a nats context are as likely the culprit as flags: name the file too.
  const orContext = contextFile ? `, or the nats context ${contextFile}` : "";
  // "unable to parse credentials" is nats.js refusing a --creds file that is not one.
  const kind = natsFailure(err);
  if (kind === NatsFailure.AuthRejected) {
    return new ConnectionError(shown, message, {
      hint: `check --user/--password, --token, --creds or --nkey (or the credentials in the URL${orContext})`,
      cause: err,
    });
  }
  if (kind === NatsFailure.PermissionDenied) return new PermissionError(message, { cause: err });
  if (kind === NatsFailure.Tls) {
    return new ConnectionError(shown, message, {
      hint: `check --tlsca (the CA that signed the server's certificate) and, when the server verifies clients, --tlscert/--tlskey${orContext}`,
      cause: err,
    });
  }
  return new ConnectionError(shown, message, {
    hint: `start a server with \`nats-server -js\` (or \`orderflow up\`, which starts one), or point --server / NATS_URL${contextFile ? ` (or the url in the nats context ${contextFile})` : ""} at a running one`,
    cause: err,
  });
}

/** Logs reconnects and disconnects so an operator sees outages; never throws. */
export function watchConnection(nc: NatsConnection, logger: Logger): void {
  void (async () => {
    for await (const s of nc.status()) {
      switch (s.type) {
        case "disconnect":
          logger.warn({ server: s.server }, "disconnected from NATS; reconnecting");
          break;
        case "reconnect":
          logger.info({ server: s.server }, "reconnected to NATS");
          break;
        case "error":
          // A refused permission surfaces where it happened (a one-line command error, or the
          // worker stopping with it); logging it here too would print a second line.
          if (!(s.error instanceof PermissionViolationError)) {
            logger.error({ err: s.error }, "NATS connection error");
          }
          break;
        default:
          break;
      }
    }
  })().catch((err: unknown) => logger.error({ err }, "connection status watcher failed"));
}

/**
 * Drains the connection, so what is buffered (acks above all) reaches the server; a server that is
 * away cannot take the drain, so then the connection just closes.
 */
export async function closeConnection(nc: NatsConnection, logger: Logger): Promise<void> {
  if (nc.isClosed()) return;
  try {
    await nc.drain();
  } catch (err) {
    logger.warn({ err: errorMessage(err) }, "could not drain a connection; closing it");
    await nc.close();
  }
}
