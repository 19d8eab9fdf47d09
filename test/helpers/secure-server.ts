import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { onTestFinished } from "vitest";
import { LoggedChild } from "../../src/common/logged-child.js";
import { findNatsServerBinary } from "../../src/common/nats-server.js";
import { probe } from "../../src/common/tcp-probe.js";
import { freePorts } from "./free-port.js";
import { waitFor } from "./wait.js";

export const DEPLOY_DIR = fileURLToPath(new URL("../../deploy/", import.meta.url));
export const SERVER_CONF = join(DEPLOY_DIR, "nats-server.conf");
export const TLS_SERVER_CONF = join(DEPLOY_DIR, "nats-server.tls.conf");

/** The users of deploy/nats-server.conf. */
export const Role = {
  Admin: "admin",
  Intake: "intake",
  Processor: "processor",
  Dispatcher: "dispatcher",
  Monitor: "monitor",
} as const;
export type Role = (typeof Role)[keyof typeof Role];
export const ROLES: readonly Role[] = Object.values(Role);

/** The environment variable each role's password comes from. */
export function passwordVar(role: Role): string {
  return `ORDERFLOW_${role.toUpperCase()}_PASSWORD`;
}

/** The reply-inbox prefix the config lets each least-privilege role subscribe below. */
export function inboxPrefix(role: Role): string | undefined {
  return role === Role.Admin ? undefined : `_INBOX_${role}`;
}

export interface SecureServerOptions {
  /** Config file, used as it is; default deploy/nats-server.conf. */
  config?: string;
  /** More environment for the server (e.g. the TLS file paths). */
  env?: NodeJS.ProcessEnv;
}

/**
 * nats-server started from one of the deploy/ configs exactly as an operator would, with `-p`, `-m`
 * and `-sd` on the command line and the passwords in the environment (fresh random ones per test).
 * NatsServer cannot do this: it writes its own config, and the deployed file is what is under test.
 */
export class SecureServer {
  private child: LoggedChild | undefined;

  private constructor(
    readonly port: number,
    readonly monitorPort: number,
    private readonly workDir: string,
    readonly passwords: Readonly<Record<Role, string>>,
  ) {}

  static async start(opts: SecureServerOptions = {}): Promise<SecureServer> {
    const [port, monitorPort] = (await freePorts(2)) as [number, number];
    const workDir = await mkdtemp(join(tmpdir(), "orderflow-secure-"));
    // Shaped as docs/reliability.md advises: nats-server parses a variable's value as a config
    // value, so it must read as a string (a letter first; `8e2…` would be a number).
    const passwords = Object.fromEntries(
      ROLES.map((r) => [r, `p${randomBytes(12).toString("hex")}`]),
    ) as Record<Role, string>;
    const server = new SecureServer(port, monitorPort, workDir, passwords);
    onTestFinished(async (ctx) => {
      if (ctx.task.result?.state === "fail") {
        process.stderr.write(`--- nats-server log (port ${port}) ---\n${server.logs().slice(-4000)}\n`);
      }
      await server.stop();
      await rm(workDir, { recursive: true, force: true });
    });
    await server.launch(opts);
    return server;
  }

  private async launch(opts: SecureServerOptions): Promise<void> {
    const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
    for (const role of ROLES) env[passwordVar(role)] = this.passwords[role];
    const args = [
      ...["-c", opts.config ?? SERVER_CONF],
      ...["-a", "127.0.0.1", "-p", String(this.port), "-m", String(this.monitorPort)],
      ...["-sd", join(this.workDir, "store")],
    ];
    const child = new LoggedChild(findNatsServerBinary(), args, { env });
    this.child = child;
    await waitFor(
      `nats-server -c ${args[1]} listening on ${this.port}`,
      async () => {
        if (child.hasExited) throw new Error(`nats-server exited: ${child.output().trim()}`);
        return probe("127.0.0.1", this.port);
      },
      { timeoutMs: 15_000, intervalMs: 25 },
    );
  }

  /** `nats://127.0.0.1:<port>` without credentials (anonymous). */
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** `nats://<role>:<password>@127.0.0.1:<port>`, as the workers are given it. */
  urlFor(role: Role, password = this.passwords[role]): string {
    return `nats://${role}:${password}@127.0.0.1:${this.port}`;
  }

  /** A test connection as `role` with its own inbox prefix, closed when the test ends. */
  async connectAs(role: Role, extra: { tls?: { caFile: string; certFile: string; keyFile: string } } = {}) {
    const nc: NatsConnection = await connect({
      servers: this.url,
      name: `test-${role}`,
      user: role,
      pass: this.passwords[role],
      inboxPrefix: inboxPrefix(role),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 200,
      ...extra,
    });
    onTestFinished(async () => {
      if (!nc.isClosed()) await nc.close();
    });
    return nc;
  }

  logs(): string {
    return this.child?.output() ?? "";
  }

  async stop(): Promise<void> {
    await this.child?.kill("SIGTERM");
  }
}

/** deploy/nats-server.conf (or `config`) on free ports with fresh passwords, stopped at test end. */
export function startSecureServer(opts: SecureServerOptions = {}): Promise<SecureServer> {
  return SecureServer.start(opts);
}
