/** Text and JSON rendering shared by the CLI, the topology descriptions and the bench report. */
import pc from "picocolors";

/** Prints one JSON document (for `--json`). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A block of right-aligned labels and values, as the nats CLI prints stream and consumer info. */
export function keyValueBlock(
  rows: ReadonlyArray<readonly [string, string | number | boolean]>,
  indent = 2,
): string {
  const width = Math.max(0, ...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${" ".repeat(indent + width - k.length)}${k}: ${String(v)}`).join("\n");
}

/** A plain table with a header row; columns sized to their widest cell. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly (string | number)[]>): string {
  const cells = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => stripAnsi(r[i] ?? "").length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => c + " ".repeat((widths[i] ?? 0) - stripAnsi(c).length))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

export function stripAnsi(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching the ESC of colour codes is the point
  return s.replace(/\u001b\[[0-9;]*m/g, "");
}

export function formatNumber(n: number): string {
  return n.toLocaleString("en-US");
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** Go-style duration as the nats CLI prints it (`2m0s`, `30s`, `250ms`). */
export function formatDurationNs(ns: number): string {
  if (ns === 0) return "0s";
  const ms = ns / 1e6;
  if (ms < 1000) return `${ms}ms`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h${m}m${sec}s`;
  if (m > 0) return `${m}m${sec}s`;
  return `${sec}s`;
}

export const colour = pc;

/** `order` or `orders` for a count: "1 order waiting", "3 orders waiting" (English nouns with -s only). */
export function plural(n: number, noun: string): string {
  return n === 1 ? noun : `${noun}s`;
}
