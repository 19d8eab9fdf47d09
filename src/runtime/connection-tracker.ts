import type { NatsConnection } from "@nats-io/nats-core";
import type { ConnectionListener, ConnectionState, ConnectionStates } from "../common/connection-state.js";
import { type Logger, silentLogger } from "../common/logger.js";

/** One connection's state as the dashboard, /readyz and the connection gauge see it. */
export type { ConnectionListener, ConnectionState };

/**
 * Follows the status of the process's NATS connections. The client reconnects forever (see
 * common/connection.ts), so "disconnected" is a passing state that /readyz reports and the page
 * shows as a banner; "closed" is final.
 */
export class ConnectionTracker implements ConnectionStates {
  private readonly states = new Map<string, ConnectionState>();
  private readonly listeners = new Set<ConnectionListener>();

  constructor(private readonly logger: Logger = silentLogger) {}

  track(name: string, nc: NatsConnection): void {
    const state: ConnectionState = {
      name,
      connected: !nc.isClosed(),
      sinceMs: Date.now(),
      server: nc.getServer(),
      disconnects: 0,
    };
    this.states.set(name, state);
    this.notify(state);
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect") {
          state.disconnects++;
          this.set(state, false, s.server);
        } else if (s.type === "reconnect") this.set(state, true, s.server);
        else if (s.type === "close") this.set(state, false, state.server);
      }
    })().catch((err: unknown) => this.logger.error({ err, connection: name }, "connection tracker failed"));
    // The status iterator ends when the connection closes, without a "close" event on some paths.
    nc.closed()
      .then(() => this.set(state, false, state.server))
      .catch((err: unknown) =>
        this.logger.error({ err, connection: name }, "connection close watcher failed"),
      );
  }

  on(listener: ConnectionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  all(): ConnectionState[] {
    return [...this.states.values()].map((s) => ({ ...s }));
  }

  /** True when there is at least one connection and every one is connected. */
  allConnected(): boolean {
    return this.states.size > 0 && [...this.states.values()].every((s) => s.connected);
  }

  private set(state: ConnectionState, connected: boolean, server: string | undefined): void {
    if (state.connected === connected && state.server === server) return;
    state.connected = connected;
    state.server = server;
    state.sinceMs = Date.now();
    this.notify(state);
  }

  private notify(state: ConnectionState): void {
    for (const l of this.listeners) {
      try {
        l({ ...state });
      } catch (err) {
        this.logger.error({ err, connection: state.name }, "connection listener failed");
      }
    }
  }
}
