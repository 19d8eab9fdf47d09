import { type StatusSample, sampledSubjects } from "../status/collect.js";
import { DEFAULT_TOPOLOGY } from "../topology/spec.js";

/**
 * One point of the throughput chart: messages stored per second per step subject (by token, and
 * `failed`); null is a gap (no data).
 */
export type ChartPoint = { t: number } & Record<string, number | null>;

/**
 * Per-stage throughput of the last `historyMs`, from consecutive stream samples (so it counts what
 * the stream stored, whoever did the work). A failed sample leaves a gap in the chart.
 */
export class ThroughputHistory {
  private points: ChartPoint[] = [];
  private previous: StatusSample | undefined;

  /** `subjects`: the tokens charted, in order; default the seed's steps and `failed`. */
  constructor(
    private readonly historyMs = 5 * 60_000,
    private readonly subjects: readonly string[] = sampledSubjects(DEFAULT_TOPOLOGY),
  ) {}

  /** Adds the rates since the previous sample; returns the new point, if there is one. */
  add(sample: StatusSample): ChartPoint | undefined {
    const prev = this.previous;
    this.previous = sample;
    const dt = prev ? (sample.atMs - prev.atMs) / 1000 : 0;
    if (!prev || dt <= 0) return undefined;
    const point = { t: sample.atMs / 1000 } as ChartPoint;
    for (const s of this.subjects)
      point[s] = Math.max(0, (sample.subjects[s] ?? 0) - (prev.subjects[s] ?? 0)) / dt;
    return this.push(point);
  }

  /**
   * Records that no sample could be taken now. The next rate is measured from the last good
   * sample, so orders stored during an outage still show up (averaged over it).
   */
  gap(atMs = Date.now()): ChartPoint {
    const point = { t: atMs / 1000 } as ChartPoint;
    for (const s of this.subjects) point[s] = null;
    return this.push(point);
  }

  private push(point: ChartPoint): ChartPoint {
    this.points.push(point);
    const cutoff = point.t - this.historyMs / 1000;
    while (this.points.length > 0 && (this.points[0] as ChartPoint).t < cutoff) this.points.shift();
    return point;
  }

  all(): ChartPoint[] {
    return [...this.points];
  }
}
