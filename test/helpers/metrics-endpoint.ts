import { waitFor } from "./wait.js";

/**
 * The metrics listener of an `orderflow worker` (or `indexer`) started with `--metrics-port`:
 * GET /metrics (Prometheus text), /healthz, /readyz, on loopback.
 */
export class MetricsEndpoint {
  constructor(readonly port: number) {}

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The Prometheus text of one scrape. */
  async scrape(): Promise<Scrape> {
    const res = await fetch(`${this.base}/metrics`, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`GET ${this.base}/metrics: ${res.status}`);
    return new Scrape(await res.text());
  }

  /** The status code of GET /readyz (0 while nothing answers). */
  async readyStatus(): Promise<number> {
    try {
      const res = await fetch(`${this.base}/readyz`, { signal: AbortSignal.timeout(2_000) });
      await res.body?.cancel();
      return res.status;
    } catch (err) {
      // Connection refused (fetch's TypeError) or no answer in time: the listener is not up (yet,
      // or any more). Anything else is the test's own bug.
      if (err instanceof TypeError || (err instanceof Error && err.name === "TimeoutError")) return 0;
      throw err;
    }
  }

  /** Waits until /readyz answers 200. */
  async ready(timeoutMs = 20_000): Promise<void> {
    await waitFor(`${this.base}/readyz 200`, async () => (await this.readyStatus()) === 200, {
      timeoutMs,
      intervalMs: 100,
    });
  }
}

/** One scrape's samples, read by metric name and labels. */
export class Scrape {
  private readonly samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];

  constructor(readonly text: string) {
    for (const line of text.split("\n")) {
      if (line === "" || line.startsWith("#")) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
      if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
        labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
      this.samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
    }
  }

  /** The samples of `name` whose labels include `labels`. */
  find(name: string, labels: Record<string, string> = {}) {
    return this.samples.filter(
      (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
    );
  }

  /** The value of the one sample of `name` with `labels`; throws when there is none or several. */
  value(name: string, labels: Record<string, string> = {}): number {
    const found = this.find(name, labels);
    if (found.length !== 1) {
      throw new Error(
        `${found.length} samples of ${name}${JSON.stringify(labels)} in the scrape:\n${this.text.slice(0, 2000)}`,
      );
    }
    return (found[0] as { value: number }).value;
  }
}
