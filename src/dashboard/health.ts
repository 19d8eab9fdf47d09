import type { ConnectionState } from "../common/connection-state.js";

/** What /readyz answers: ready only when every check passes; otherwise the reasons, one line each. */
export interface Readiness {
  ready: boolean;
  checks: {
    /** Every NATS connection of the process is connected. */
    connected: boolean;
    /** The last read of the stream and its consumers succeeded. */
    topology: boolean;
    /** Every stage has a worker: the ones in this process run, the others show activity. */
    workers: boolean;
  };
  reasons: string[];
}

export interface ReadinessInput {
  connections: readonly ConnectionState[];
  /** Why the last read of the stream and consumers failed; undefined when it succeeded. */
  topologyProblem: string | undefined;
  /** The stage workers run in this process. */
  workers: ReadonlyArray<{ stage: string; running: boolean }>;
  /** Messages of the status verdict saying a consumer has no workers (stages run elsewhere). */
  unattended: readonly string[];
}

/** Pure: the readiness of the process from what it knows now. */
export function assessReadiness(input: ReadinessInput): Readiness {
  const reasons: string[] = [];
  const down = input.connections.filter((c) => !c.connected);
  if (input.connections.length === 0) reasons.push("no NATS connection yet");
  for (const c of down) {
    reasons.push(
      `connection ${c.name} is not connected to NATS${c.server ? ` (last server ${c.server})` : ""}`,
    );
  }
  if (input.topologyProblem) reasons.push(`stream and consumers unavailable: ${input.topologyProblem}`);
  const stopped = input.workers.filter((w) => !w.running);
  for (const w of stopped) reasons.push(`${w.stage} worker is not running`);
  reasons.push(...input.unattended);
  const checks = {
    connected: input.connections.length > 0 && down.length === 0,
    topology: input.topologyProblem === undefined,
    workers: stopped.length === 0 && input.unattended.length === 0,
  };
  return { ready: checks.connected && checks.topology && checks.workers, checks, reasons };
}
