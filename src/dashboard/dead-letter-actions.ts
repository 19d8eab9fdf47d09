import type { NatsConnection } from "@nats-io/nats-core";
import { type DeadLetter, type DeadLetterFilter, matches, readDeadLetters } from "../orders/dead-letters.js";
import type { StreamAccess } from "../orders/read-to-end.js";
import { type ReplaySummary, replaySelection } from "../orders/replay.js";
import type { TopologyOptions } from "../topology/spec.js";

/** Most rows one listing returns: the page is for looking, the CLI for bulk. */
const LIST_MAX = 200;

export interface DeadLetterListing {
  total: number;
  rows: Array<Omit<DeadLetter, "data" | "unfinished"> & { replayed: boolean; interrupted: boolean }>;
}

function row(d: DeadLetter) {
  const { data: _data, unfinished, ...rest } = d;
  return { ...rest, replayed: d.replays > 0, interrupted: unfinished !== undefined };
}

/** What the page sends to replay: the same selection as the CLI's arguments (its route's schema checks it). */
export interface ReplayRequest {
  seqs?: number[];
  all?: boolean;
  filter?: { stage?: string; reason?: string; orderNo?: string };
  dryRun?: boolean;
  force?: boolean;
}

const text = (v: string | undefined) => (v !== undefined && v.length > 0 ? v : undefined);

export function filterFrom(q: { stage?: string; reason?: string; orderNo?: string }): DeadLetterFilter {
  return { stage: text(q.stage), reason: text(q.reason), orderNo: text(q.orderNo) };
}

/** The dashboard's dead-letter table and replay buttons, on the code path of `orderflow dead-letters`. */
export class DeadLetterActions {
  constructor(
    private readonly nc: NatsConnection,
    private readonly topology: TopologyOptions,
    private readonly access: StreamAccess,
  ) {}

  async list(filter: DeadLetterFilter): Promise<DeadLetterListing> {
    const all = (await readDeadLetters(this.nc, this.topology, this.access))
      .filter((d) => matches(d, filter))
      .reverse();
    return { total: all.length, rows: all.slice(0, LIST_MAX).map(row) };
  }

  async show(seq: number): Promise<ReturnType<typeof row> | undefined> {
    const d = (await readDeadLetters(this.nc, this.topology, this.access)).find((x) => x.seq === seq);
    return d ? row(d) : undefined;
  }

  replay(req: ReplayRequest): Promise<ReplaySummary> {
    return replaySelection(
      this.nc,
      this.topology,
      { seqs: req.seqs ?? [], all: req.all === true, filter: filterFrom(req.filter ?? {}) },
      { ...this.access, dryRun: req.dryRun === true, force: req.force === true },
    );
  }
}
