import { waitFor } from "./wait.js";

/** The value of one series in a Prometheus text exposition (`name{labels}` exactly as printed). */
export function metricValue(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** The base URL (`http://host:port/`) a process logged for its metrics listener, if it has yet. */
export function loggedMetricsUrl(output: string): string | undefined {
  return /"url":"(http:\/\/[^"]+\/)","msg":"metrics on /.exec(output)?.[1];
}

/** Waits for the process's metrics start line, failing with what it wrote. */
export async function waitForMetricsUrl(output: () => string, timeoutMs = 15_000): Promise<string> {
  try {
    return await waitFor("the metrics listener's start line", () => loggedMetricsUrl(output()), {
      timeoutMs,
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${output().slice(-2000)}`);
  }
}

/** GET /metrics as text. */
export async function scrape(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}metrics`);
  if (res.status !== 200) throw new Error(`GET ${baseUrl}metrics: ${res.status}`);
  return res.text();
}

export interface ReadyAnswer {
  status: number;
  body: { ready: boolean; checks: Record<string, boolean>; reasons: string[] };
}

/** GET /readyz: its status and body. */
export async function readyz(baseUrl: string): Promise<ReadyAnswer> {
  const res = await fetch(`${baseUrl}readyz`);
  return { status: res.status, body: (await res.json()) as ReadyAnswer["body"] };
}

/** Waits until /readyz answers `status`, returning that answer. */
export function waitForReadyz(
  baseUrl: string,
  status: 200 | 503,
  what: string,
  timeoutMs = 20_000,
): Promise<ReadyAnswer> {
  return waitFor(
    what,
    async () => {
      const r = await readyz(baseUrl);
      return r.status === status ? r : undefined;
    },
    { timeoutMs },
  );
}
