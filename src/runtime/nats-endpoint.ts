import { createConnection } from "node:net";
import { resolve } from "node:path";
import { type Logger, silentLogger } from "../common/logger.js";
import { NatsServer } from "../common/nats-server.js";
import { ensureNatsServerBinary } from "./nats-install.js";
import { type InstallMode, ManagedServerMode } from "./up-options.js";

/** What answers on a TCP port: a NATS server (it greets with `INFO {…}`), something else, or nothing. */
export const PortAnswer = { Nats: "nats", Other: "other", None: "none" } as const;
export type PortAnswer = (typeof PortAnswer)[keyof typeof PortAnswer];

const LOOPBACK = "127.0.0.1";

/** Connects, reads the greeting and hangs up; a NATS server speaks first. */
export function probeNats(host: string, port: number, timeoutMs = 1_000): Promise<PortAnswer> {
  return new Promise((resolvePromise) => {
    const socket = createConnection({ host, port });
    let connected = false;
    let greeting = "";
    const done = (answer: PortAnswer): void => {
      socket.destroy();
      resolvePromise(answer);
    };
    socket.setTimeout(timeoutMs, () => done(connected ? PortAnswer.Other : PortAnswer.None));
    socket.once("connect", () => {
      connected = true;
    });
    socket.on("data", (chunk: Buffer) => {
      greeting += chunk.toString("latin1");
      if (greeting.length >= 5) done(greeting.startsWith("INFO ") ? PortAnswer.Nats : PortAnswer.Other);
    });
    socket.once("error", () => done(connected ? PortAnswer.Other : PortAnswer.None));
    socket.once("end", () => done(connected ? PortAnswer.Other : PortAnswer.None));
  });
}

/** Where `up` connects, and the server it started for that, if any. */
export interface NatsEndpoint {
  servers: string[];
  /** Set when `up` started this server; it is stopped with `up`. */
  managed?: ManagedNats;
  /** One line for the operator about where NATS is. */
  description: string;
}

export interface ResolveEndpointOptions {
  /** Servers from --server / NATS_URL; undefined when neither was given. */
  explicit: string[] | undefined;
  natsPort: number;
  storeDir: string;
  managedServer: ManagedServerMode;
  install: InstallMode;
  logger?: Logger;
}

/**
 * Given servers are used as they are. Otherwise a NATS server on 127.0.0.1:<natsPort> is used when one
 * answers; when nothing answers, `up` starts its own there (on a free port when something that is not
 * NATS holds that port).
 */
export async function resolveNatsEndpoint(o: ResolveEndpointOptions): Promise<NatsEndpoint> {
  if (o.explicit) return { servers: o.explicit, description: `using NATS at ${o.explicit.join(",")}` };
  const url = `nats://${LOOPBACK}:${o.natsPort}`;
  const answer = o.natsPort > 0 ? await probeNats(LOOPBACK, o.natsPort) : PortAnswer.Other;
  if (answer === PortAnswer.Nats) return { servers: [url], description: `using the nats-server at ${url}` };
  if (o.managedServer === ManagedServerMode.Never) {
    return {
      servers: [url],
      description: `using NATS at ${url} (nothing answers yet; --managed-server never)`,
    };
  }
  const binary = await ensureNatsServerBinary(o.install);
  const port = answer === PortAnswer.Other ? 0 : o.natsPort;
  const managed = await ManagedNats.start({ binary, port, storeDir: resolve(o.storeDir), logger: o.logger });
  const taken =
    answer === PortAnswer.Other && o.natsPort > 0
      ? ` (port ${o.natsPort} is taken by something that is not NATS)`
      : "";
  return {
    servers: [managed.url],
    managed,
    description: `started nats-server ${managed.url} with JetStream store ${managed.storeDir}${taken}; it stops with orderflow`,
  };
}

export interface ManagedNatsOptions {
  binary: string;
  port: number;
  storeDir: string;
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
