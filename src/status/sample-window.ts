import type { StatusSample } from "./collect.js";

/**
 * The samples of the last `windowMs`, plus the newest one older than that, so the window a report
 * covers is at least `windowMs` as soon as there is that much history.
 */
export class SampleWindow {
  private samples: StatusSample[] = [];

  constructor(private readonly windowMs: number) {}

  add(sample: StatusSample): void {
    this.samples.push(sample);
    const cutoff = sample.atMs - this.windowMs;
    // Keep one sample at or before the cutoff: it is the far end of the window.
    while (this.samples.length > 2 && (this.samples[1] as StatusSample).atMs <= cutoff) this.samples.shift();
  }

  /** Oldest first. */
  all(): readonly StatusSample[] {
    return this.samples;
  }
}
