import { resolve } from "node:path";
import { UsageError } from "../common/errors.js";
import { type Logger, silentLogger } from "../common/logger.js";
import { NatsServer, natsServerBinaryVersion } from "../common/nats-server.js";
import { featuresOf } from "../common/server-features.js";
import { probeTcp } from "../common/tcp-probe.js";
import { ensureNatsServerBinary } from "./nats-install.js";
import { type InstallMode, ManagedServerMode, type UpOptions } from "./up-options.js";

/**
 * What answers on a TCP port: a NATS server with JetStream, one without (Debian's packaged service
 * runs that way on 4222), something else, or nothing. A NATS server speaks first: `INFO {…}`.
 */
export const PortAnswer = {
  Nats: "nats",
  NatsWithoutJetStream: "nats-without-jetstream",
  Other: "other",
  None: "none",
} as const;
export type PortAnswer = (typeof PortAnswer)[keyof typeof PortAnswer];

const LOOPBACK = "127.0.0.1";

function readGreeting(line: string): PortAnswer {
  if (!line.startsWith("INFO ")) return PortAnswer.Other;
  try {
    const info = JSON.parse(line.slice(5)) as { jetstream?: boolean };
    return info.jetstream === true ? PortAnswer.Nats : PortAnswer.NatsWithoutJetStream;
  } catch (err) {
    // INFO with a body that is not JSON: not a NATS server we can use.
    if (err instanceof SyntaxError) return PortAnswer.Other;
    throw err;
  }
}

/** Connects, reads the greeting line and hangs up. */
export async function probeNats(host: string, port: number, timeoutMs = 1_000): Promise<PortAnswer> {
  const { connected, answer } = await probeTcp(host, port, {
    timeoutMs,
    read: (received): PortAnswer | undefined => {
      const eol = received.indexOf("\r\n");
      if (eol >= 0) return readGreeting(received.slice(0, eol));
      if (!"INFO ".startsWith(received.slice(0, 5)) || received.length > 64 * 1024) return PortAnswer.Other;
      return undefined;
    },
  });
  return answer ?? (connected ? PortAnswer.Other : PortAnswer.None);
}

/** Where `up` connects, and the server it started for that, if any. */
export interface NatsEndpoint {
  servers: string[];
  /** Set when `up` started this server; it is stopped with `up`. */
  managed?: ManagedNats;
  /** One line for the operator about where NATS is. */
  description: string;
}

/** The managed-server fields are `up`'s own options (documented there), not a copy of them. */
export interface ResolveEndpointOptions
  extends Pick<UpOptions, "natsPort" | "storeDir" | "managedServer" | "install">,
    Partial<Pick<UpOptions, "sync">> {
  /** Servers from --server / NATS_URL; undefined when neither was given. */
  explicit: string[] | undefined;
  logger?: Logger;
  /** Finds (or installs) the nats-server binary; default {@link ensureNatsServerBinary}. For tests. */
  ensureBinary?: (mode: InstallMode) => Promise<string>;
}

/** `--sync` configures the server `up` starts; one it did not start keeps its own config. */
function syncNotOurs(where: string): UsageError {
  return new UsageError(
    `--sync sets the sync_interval of the nats-server up starts; the one at ${where} is not up's`,
    {
      hint: "set `jetstream { sync_interval: always }` in that server's config (deploy/nats-server.conf), or leave out --sync",
    },
  );
}

/** Why a managed server cannot take the probed port, in words; undefined when it can. */
function portProblem(answer: PortAnswer, port: number): string | undefined {
  if (answer === PortAnswer.NatsWithoutJetStream) {
    return `the nats-server on port ${port} has no JetStream (enable it there, e.g. \`jetstream {}\` in /etc/nats-server.conf, to share it)`;
  }
  if (answer === PortAnswer.Other) return `port ${port} is taken by something that is not NATS`;
  return undefined;
}

/**
 * Given servers are used as they are. Otherwise a NATS server with JetStream on 127.0.0.1:<natsPort>
 * is used when one answers; when nothing answers, `up` starts its own there. When the port holds
 * something else (another program, a NATS without JetStream), `up` starts its own on a free port.
 */
export async function resolveNatsEndpoint(o: ResolveEndpointOptions): Promise<NatsEndpoint> {
  if (o.explicit) {
    if (o.sync) throw syncNotOurs(o.explicit.join(","));
    return { servers: o.explicit, description: `using NATS at ${o.explicit.join(",")}` };
  }
  const url = `nats://${LOOPBACK}:${o.natsPort}`;
  const probePort = async () => (o.natsPort > 0 ? probeNats(LOOPBACK, o.natsPort) : PortAnswer.Other);
  let answer = await probePort();
  if (answer === PortAnswer.Nats) {
    if (o.sync) throw syncNotOurs(url);
    return { servers: [url], description: `using the nats-server at ${url}` };
  }
  if (o.managedServer === ManagedServerMode.Never) {
    const why = answer === PortAnswer.None ? "nothing answers yet" : portProblem(answer, o.natsPort);
    return { servers: [url], description: `using NATS at ${url} (${why}; --managed-server never)` };
  }
  const binary = await (o.ensureBinary ?? ensureNatsServerBinary)(o.install);
  if (o.sync) {
    const version = natsServerBinaryVersion(binary);
    if (!featuresOf(version).syncInterval) {
      throw new UsageError(`--sync needs nats-server 2.10 or newer; ${binary} is ${version}`, {
        hint: "upgrade nats-server (README, Support), or leave out --sync (the server then syncs every 2 minutes)",
      });
    }
  }
  if (answer === PortAnswer.None) {
    // Installing the package may have started its own service on the port (Debian does, without JetStream).
    answer = await probePort();
    if (answer === PortAnswer.Nats) return { servers: [url], description: `using the nats-server at ${url}` };
  }
  const problem = o.natsPort > 0 ? portProblem(answer, o.natsPort) : undefined;
  const managed = await ManagedNats.start({
    binary,
    port: answer === PortAnswer.None ? o.natsPort : 0,
    storeDir: resolve(o.storeDir),
    syncInterval: o.sync,
    logger: o.logger,
  });
  const note = problem ? ` (${problem}; other commands reach ours with NATS_URL=${managed.url})` : "";
  return {
    servers: [managed.url],
    managed,
    description: `started nats-server ${managed.url} with JetStream store ${managed.storeDir}${note}; it stops with orderflow`,
  };
}

export interface ManagedNatsOptions {
  binary: string;
  port: number;
  storeDir: string;
  /** JetStream `sync_interval` ("always", "10000ms"); default the server's own. */
  syncInterval?: string;
  /** How often the watchdog checks the server still runs. Default 1,000 ms. */
  watchIntervalMs?: number;
  logger?: Logger;
}

/**
 * The nats-server `up` started: restarted by a watchdog if it dies (the pipeline reconnects by
 * itself), stopped gracefully with `up` so JetStream flushes its state.
 */
export class ManagedNats {
  private timer: NodeJS.Timeout | undefined;
  private restarting: Promise<void> | undefined;
  private stopped = false;

  private constructor(
    private readonly server: NatsServer,
    private readonly logger: Logger,
  ) {}

  static async start(o: ManagedNatsOptions): Promise<ManagedNats> {
    const server = await NatsServer.start({
      binary: o.binary,
      port: o.port,
      storeDir: o.storeDir,
      syncInterval: o.syncInterval,
      host: LOOPBACK,
      detached: true,
    });
    const managed = new ManagedNats(server, (o.logger ?? silentLogger).child({ part: "nats-server" }));
    managed.timer = setInterval(() => managed.watch(), o.watchIntervalMs ?? 1_000);
    managed.timer.unref();
    return managed;
  }

  get url(): string {
    return this.server.url;
  }

  get storeDir(): string {
    return this.server.storeDir;
  }

  get pid(): number | undefined {
    return this.server.pid;
  }

  /** The server's HTTP monitoring endpoint on loopback (`/varz`, `/healthz`, `/jsz`). */
  get monitorUrl(): string {
    return `http://${LOOPBACK}:${this.server.monitorPort}`;
  }

  private watch(): void {
    if (this.stopped || this.restarting || this.server.running) return;
    this.logger.warn({ log: lastLines(this.server.logs()) }, "managed nats-server exited; restarting it");
    this.restarting = this.server
      .start()
      .then(() => this.logger.info({ url: this.url }, "managed nats-server restarted"))
      .catch((err: unknown) => this.logger.error({ err }, "managed nats-server did not restart; retrying"))
      .finally(() => {
        this.restarting = undefined;
      });
  }

  /** Stops the server (SIGTERM) and removes its temp config; the store is kept. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.restarting;
    await this.server.cleanup();
  }
}

function lastLines(log: string): string {
  return log.trim().split("\n").slice(-3).join(" | ");
}
