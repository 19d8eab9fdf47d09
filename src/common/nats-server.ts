import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode, errorMessage, OrderflowError, ServerBinaryMissingError } from "./errors.js";
import { findExecutable } from "./find-executable.js";
import { LoggedChild } from "./logged-child.js";
import { sleep } from "./sleep.js";
import { probe } from "./tcp-probe.js";

/** Where we look for nats-server: `$NATS_SERVER_BIN`, then PATH, then Debian's `/usr/sbin`. */
export function findNatsServerBinary(env: NodeJS.ProcessEnv = process.env): string {
  const { path, tried } = findExecutable("nats-server", {
    env,
    first: env.NATS_SERVER_BIN ? [env.NATS_SERVER_BIN] : [],
    fallbacks: ["/usr/sbin/nats-server", "/usr/local/bin/nats-server"],
  });
  if (path) return path;
  throw new ServerBinaryMissingError(tried.length > 4 ? [...tried.slice(0, 1), "$PATH", "/usr/sbin"] : tried);
}

/** What `<binary> --version` prints, as "2.15.1". */
export function natsServerBinaryVersion(binary: string): string {
  try {
    return execFileSync(binary, ["--version"], { encoding: "utf8" })
      .trim()
      .replace(/^nats-server:\s*v?/, "");
  } catch (err) {
    throw new OrderflowError(ErrorCode.ServerStart, `cannot run ${binary} --version: ${errorMessage(err)}`, {
      hint: "check that NATS_SERVER_BIN (or the nats-server on PATH) is a runnable nats-server",
      cause: err,
    });
  }
}

export interface NatsServerOptions {
  /** Client port; default 0 = any free port (the first start picks it, restarts keep it). */
  port?: number;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** JetStream store; default a fresh temp dir, removed by {@link NatsServer.cleanup}. */
  storeDir?: string;
  /** `server_name`; needed for clustering. */
  serverName?: string;
  /** Extra config text appended to the generated file (cluster, accounts, tls blocks). */
  extraConfig?: string;
  /** Binary; default {@link findNatsServerBinary}. */
  binary?: string;
  /** Largest file store JetStream may use; default 4 GiB (the bench writes millions of messages). */
  maxFileStore?: string;
  /**
   * JetStream's `sync_interval` (nats-server 2.10+): "always" fsyncs every write before its PubAck,
   * so an acknowledged order survives a power loss; a duration ("2m") syncs that often. Default
   * unset: the server's own default, every 2 minutes.
   */
  syncInterval?: string;
  /** More lines inside the `jetstream {}` block (e.g. `max_buffered_msgs: 5` to provoke 429s, 2.11+). */
  jetstreamExtra?: string;
  /** Enable JetStream; default true (false only to test what happens without it). */
  jetstream?: boolean;
  /** How long to wait for the server to accept clients; default 15 s. */
  startTimeoutMs?: number;
  /**
   * Own process group; default false. A terminal's Ctrl-C signals the whole foreground group, so
   * `orderflow up` sets it: the server must outlive the drain and be stopped last, by us.
   */
  detached?: boolean;
}

interface Ports {
  nats: string[];
  monitoring?: string[];
  cluster?: string[];
}

const LOG_LIMIT = 64 * 1024;

/**
 * A nats-server child process with JetStream, on loopback. `orderflow up` uses it when no server is
 * reachable; the tests use it for a server of their own that they can stop, kill -9 and restart on the
 * same ports and store.
 */
export class NatsServer {
  private child: LoggedChild | undefined;
  /** The log of the runs before this one (restarts), bounded like the current one's. */
  private earlierLog = "";
  private workDir = "";
  port = 0;
  monitorPort = 0;
  storeDir = "";

  private constructor(private readonly opts: NatsServerOptions) {}

  static async start(opts: NatsServerOptions = {}): Promise<NatsServer> {
    const server = new NatsServer(opts);
    await server.init();
    await server.launch();
    return server;
  }

  get url(): string {
    return `nats://${this.opts.host ?? "127.0.0.1"}:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child?.running ?? false;
  }

  /** The server's own log lines (last 64 KiB), for failing tests. */
  logs(): string {
    return (this.earlierLog + (this.child?.output() ?? "")).slice(-LOG_LIMIT);
  }

  private async init(): Promise<void> {
    this.workDir = await mkdtemp(join(tmpdir(), "orderflow-nats-"));
    if (this.opts.storeDir) {
      this.storeDir = this.opts.storeDir;
      await mkdir(this.storeDir, { recursive: true });
    } else {
      this.storeDir = join(this.workDir, "store");
    }
    this.port = this.opts.port ?? 0;
  }

  private config(): string {
    const host = this.opts.host ?? "127.0.0.1";
    const lines = [
      `listen: "${host}:${this.port > 0 ? this.port : -1}"`,
      `http: "127.0.0.1:${this.monitorPort > 0 ? this.monitorPort : -1}"`,
      `ports_file_dir: "${this.workDir}"`,
      ...(this.opts.serverName ? [`server_name: "${this.opts.serverName}"`] : []),
      ...(this.opts.jetstream === false
        ? []
        : [
            `jetstream {`,
            `  store_dir: "${this.storeDir}"`,
            `  max_file_store: ${this.opts.maxFileStore ?? "4G"}`,
            `  max_memory_store: 256M`,
            ...(this.opts.syncInterval ? [`  sync_interval: ${this.opts.syncInterval}`] : []),
            ...(this.opts.jetstreamExtra ? [`  ${this.opts.jetstreamExtra}`] : []),
            `}`,
          ]),
      this.opts.extraConfig ?? "",
    ];
    return `${lines.join("\n")}\n`;
  }

  private async launch(): Promise<void> {
    const binary = this.opts.binary ?? findNatsServerBinary();
    const confPath = join(this.workDir, "nats-server.conf");
    await writeFile(confPath, this.config());
    await this.removePortsFiles();
    this.earlierLog = this.logs();
    const child = new LoggedChild(binary, ["-c", confPath], {
      detached: this.opts.detached ?? false,
      logLimit: LOG_LIMIT,
    });
    this.child = child;
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 15_000);
    while (Date.now() < deadline) {
      if (child.hasExited) break;
      const ports = await this.readPorts(child.pid);
      if (ports) {
        this.port = portOf(ports.nats[0]);
        if (ports.monitoring?.[0]) this.monitorPort = portOf(ports.monitoring[0]);
        if (await probe(this.opts.host ?? "127.0.0.1", this.port)) return;
      }
      await sleep(25);
    }
    await child.kill("SIGKILL");
    throw new OrderflowError(
      ErrorCode.ServerStart,
      `nats-server did not start: ${child.lastLines() || "(no output)"}`,
      {
        hint: `full log: ${child.output().length > 0 ? "see above" : "empty"}; config ${confPath}`,
      },
    );
  }

  private async removePortsFiles(): Promise<void> {
    for (const f of await readdir(this.workDir)) {
      if (f.endsWith(".ports")) await rm(join(this.workDir, f), { force: true });
    }
  }

  private async readPorts(pid: number | undefined): Promise<Ports | undefined> {
    if (pid === undefined) return undefined;
    try {
      return JSON.parse(await readFile(join(this.workDir, `nats-server_${pid}.ports`), "utf8")) as Ports;
    } catch (err) {
      // The server writes the file once it listens; until then it is absent or half-written.
      if (err instanceof SyntaxError || (err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  /** Graceful stop (SIGTERM): JetStream flushes its state. */
  async stop(): Promise<void> {
    await this.signal("SIGTERM");
  }

  /** A crash: SIGKILL, nothing flushed beyond what the OS already has. */
  async kill(): Promise<void> {
    await this.signal("SIGKILL");
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    await this.child?.kill(sig);
  }

  /** Starts again on the same ports and store dir. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** Starts again after a kill/stop, on the same ports and store. */
  async start(): Promise<void> {
    if (this.running) return;
    await this.launch();
  }

  /** Stops the server and removes its temp files (and the store, when we made it). */
  async cleanup(): Promise<void> {
    await this.stop();
    // A store we were given (e.g. `./.orderflow/`) lives outside workDir and is kept.
    await rm(this.workDir, { recursive: true, force: true });
  }
}

function portOf(hostPort: string | undefined): number {
  const m = /:(\d+)$/.exec(hostPort ?? "");
  if (!m?.[1]) throw new OrderflowError(ErrorCode.ServerStart, `bad ports file entry "${hostPort}"`);
  return Number(m[1]);
}
