import type { ConnectionState } from "../common/connection-state.js";
import { PullState, type PullStatus } from "../stages/pull-status.js";

/**
 * What /readyz answers, whichever process serves it: ready only when every check passes; otherwise
 * the reasons, one line each. The checks depend on the process kind (below), the shape does not.
 */
export interface Readiness<Check extends string = string> {
  ready: boolean;
  checks: Record<Check, boolean>;
  reasons: string[];
}

/** One check's verdict and, when it fails, why. */
interface CheckResult {
  ok: boolean;
  reasons: string[];
}

function readiness<C extends string>(results: Record<C, CheckResult>): Readiness<C> {
  const entries = Object.entries(results) as Array<[C, CheckResult]>;
  return {
    ready: entries.every(([, r]) => r.ok),
    checks: Object.fromEntries(entries.map(([k, r]) => [k, r.ok])) as Record<C, boolean>,
    reasons: entries.flatMap(([, r]) => r.reasons),
  };
}

/** Every NATS connection of the process is connected (and there is one). */
function connectedCheck(connections: readonly ConnectionState[]): CheckResult {
  const down = connections.filter((c) => !c.connected);
  const reasons = [
    ...(connections.length === 0 ? ["no NATS connection yet"] : []),
    ...down.map(
      (c) => `connection ${c.name} is not connected to NATS${c.server ? ` (last server ${c.server})` : ""}`,
    ),
  ];
  return { ok: connections.length > 0 && down.length === 0, reasons };
}

// ---- orderflow up: the dashboard's process ----

export type SystemCheck = "connected" | "topology" | "workers";

export interface SystemReadinessInput {
  connections: readonly ConnectionState[];
  /** Why the last read of the stream and consumers failed; undefined when it succeeded. */
  topologyProblem: string | undefined;
  /** The stage workers run in this process. */
  workers: ReadonlyArray<{ stage: string; running: boolean }>;
  /** Messages of the status verdict saying a consumer has no workers (stages run elsewhere). */
  unattended: readonly string[];
}

/**
 * `up`: connected; the last read of the stream and its consumers succeeded (topology); every stage
 * has a worker: those in this process run, the others show activity (workers). Pure.
 */
export function assessSystemReadiness(input: SystemReadinessInput): Readiness<SystemCheck> {
  const stopped = input.workers.filter((w) => !w.running);
  return readiness<SystemCheck>({
    connected: connectedCheck(input.connections),
    topology: {
      ok: input.topologyProblem === undefined,
      reasons: input.topologyProblem ? [`stream and consumers unavailable: ${input.topologyProblem}`] : [],
    },
    workers: {
      ok: stopped.length === 0 && input.unattended.length === 0,
      reasons: [...stopped.map((w) => `${w.stage} worker is not running`), ...input.unattended],
    },
  });
}

// ---- orderflow worker ----

export type WorkerCheck = "connected" | "consumer" | "pulling";

/** A stage worker as its readiness sees it (StageWorker has this shape). */
export interface WorkerHealth {
  stage: { name: string; consumer: string };
  running: boolean;
  pullStatus: PullStatus;
}

/**
 * `worker`: connected; its consumer exists (no 409 Consumer Deleted, no 503, no pulls unanswered
 * past their expiry); it is pulling (running, and the consumer has answered since the last start or
 * reconnect). Pure.
 */
export function assessWorkerReadiness(
  connections: readonly ConnectionState[],
  workers: readonly WorkerHealth[],
): Readiness<WorkerCheck> {
  const missing = workers.filter(
    (w) => w.pullStatus.state === PullState.ConsumerMissing || w.pullStatus.state === PullState.Unanswered,
  );
  const notPulling = workers.filter((w) => !w.running || w.pullStatus.state !== PullState.Pulling);
  return readiness<WorkerCheck>({
    connected: connectedCheck(connections),
    consumer: {
      ok: missing.length === 0,
      reasons: missing.map((w) =>
        w.pullStatus.state === PullState.ConsumerMissing
          ? `consumer ${w.stage.consumer} is missing (${w.pullStatus.reason}); \`orderflow setup\` creates it`
          : `${w.pullStatus.reason}: consumer ${w.stage.consumer} missing (2.9 does not say) or its server restarting`,
      ),
    },
    pulling: {
      ok: workers.length > 0 && notPulling.length === 0,
      reasons: notPulling
        .filter((w) => !missing.includes(w))
        .map((w) =>
          w.running
            ? `${w.stage.name} has no answer from ${w.stage.consumer} yet (${w.pullStatus.state})`
            : `${w.stage.name} worker is not running (${w.pullStatus.state === PullState.Stopped ? "stopped" : "stopping"})`,
        ),
    },
  });
}

// ---- orderflow indexer ----

export type IndexerCheck = "connected" | "caughtUp" | "reading";

export interface IndexerHealth {
  /** It has read what the stream held when it started (lookups then see every order stored before). */
  caughtUp: boolean;
  /** Its stream reader is alive (false once it stopped by itself; the indexer then needs a restart). */
  reading: boolean;
}

/**
 * `indexer`: connected; caught up with what the stream held at its start (until then a lookup may
 * miss older orders and a late-redelivery check be held); still reading the stream. Pure.
 */
export function assessIndexerReadiness(
  connections: readonly ConnectionState[],
  indexer: IndexerHealth,
): Readiness<IndexerCheck> {
  return readiness<IndexerCheck>({
    connected: connectedCheck(connections),
    caughtUp: {
      ok: indexer.caughtUp,
      reasons: indexer.caughtUp ? [] : ["the order index is still reading the stream's earlier orders"],
    },
    reading: {
      ok: indexer.reading,
      reasons: indexer.reading ? [] : ["the order index stopped reading the stream; restart the indexer"],
    },
  });
}
