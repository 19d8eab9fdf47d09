import type { NatsServer } from "../common/nats-server.js";
import type { CpuPerOrder } from "./stats.js";
import { readCpuSeconds, type WorkerProcess } from "./worker-processes.js";

/** CPU seconds of every worker and of the managed server at one moment. */
export interface CpuSnapshot {
  workers: number[];
  server: number | undefined;
}

/** CPU seconds of every worker and of the managed server now; undefined entries off Linux. */
export async function cpuSnapshot(
  workers: WorkerProcess[],
  managed: NatsServer | undefined,
): Promise<CpuSnapshot | undefined> {
  if (process.platform !== "linux") return undefined;
  const pids = workers.map((w) => w.child.pid ?? 0);
  return {
    workers: await Promise.all(pids.map((pid) => readCpuSeconds(pid))),
    server: managed?.pid === undefined ? undefined : await readCpuSeconds(managed.pid),
  };
}

/** Each worker's, all workers' and the server's CPU microseconds per order between two snapshots. */
export function cpuPerOrder(
  before: CpuSnapshot | undefined,
  after: CpuSnapshot | undefined,
  workers: WorkerProcess[],
  orders: number,
): CpuPerOrder | undefined {
  if (!before || !after || orders <= 0) return undefined;
  const us = (a: number, b: number): number => ((a - b) * 1e6) / orders;
  const perWorker = workers.map((w, i) => ({
    role: w.role,
    pid: w.child.pid ?? 0,
    us: us(after.workers[i] ?? 0, before.workers[i] ?? 0),
  }));
  return {
    workers: perWorker,
    workersUs: perWorker.reduce((sum, w) => sum + w.us, 0),
    serverUs:
      after.server === undefined || before.server === undefined ? undefined : us(after.server, before.server),
  };
}
