/**
 * What is known of one NATS connection of the process: kept by runtime/connection-tracker.ts, shown
 * by the dashboard, /readyz and /metrics (which sit below runtime, hence its place here).
 */
export interface ConnectionState {
  name: string;
  connected: boolean;
  /** When it last connected or lost its server, ms since the epoch. */
  sinceMs: number;
  /** Server it is (or was last) connected to. */
  server: string | undefined;
  /** Times it lost its server since it was opened. */
  disconnects: number;
}

export type ConnectionListener = (state: ConnectionState) => void;

/** The process's connections as the dashboard reads them (runtime's ConnectionTracker is one). */
export interface ConnectionStates {
  on(listener: ConnectionListener): () => void;
  all(): ConnectionState[];
  /** True when there is at least one connection and every one is connected. */
  allConnected(): boolean;
}
