import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";

/** A relative link in a Markdown file that does not lead anywhere. */
export interface BrokenLink {
  file: string;
  line: number;
  target: string;
  why: string;
}

const FENCE = /^\s*(```|~~~)/;
const LINK = /!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g;
const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingSlug(heading: string): string {
  const text = heading.replace(/`/g, "").replace(/\[([^\]]*)\]\([^)]*\)/g, "$1");
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** Lines outside code fences, with their 1-based numbers. */
function proseLines(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let fenced = false;
  text.split("\n").forEach((t, i) => {
    if (FENCE.test(t)) fenced = !fenced;
    else if (!fenced) out.push({ line: i + 1, text: t.replace(/`[^`]*`/g, "") });
  });
  return out;
}

/** The anchors a Markdown file offers, GitHub-style, repeats numbered `-1`, `-2`, … */
export function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  let fenced = false;
  for (const t of text.split("\n")) {
    if (FENCE.test(t)) fenced = !fenced;
    const m = fenced ? null : HEADING.exec(t);
    if (!m) continue;
    const slug = headingSlug(m[2] ?? "");
    const n = seen.get(slug) ?? 0;
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
    seen.set(slug, n + 1);
  }
  for (const m of text.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) anchors.add(m[1] ?? "");
  return anchors;
}

/** Every relative link of `file` (a path under `root`) whose file or anchor does not exist. */
export function brokenLinks(root: string, file: string): BrokenLink[] {
  const path = join(root, file);
  const text = readFileSync(path, "utf8");
  const broken: BrokenLink[] = [];
  for (const { line, text: t } of proseLines(text)) {
    for (const m of t.matchAll(LINK)) {
      const target = m[1] ?? "";
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, mailto:, …: not ours to check
      const [pathPart = "", anchor] = target.split("#", 2);
      const dest = pathPart === "" ? path : join(dirname(path), decodeURI(pathPart));
      const report = (why: string) => broken.push({ file, line, target, why });
      if (!existsSync(dest)) {
        report(`no file ${relative(root, dest)}`);
        continue;
      }
      if (anchor === undefined || statSync(dest).isDirectory() || !dest.endsWith(".md")) continue;
      if (!anchorsOf(readFileSync(dest, "utf8")).has(anchor)) {
        report(`no heading #${anchor} in ${relative(root, dest)}`);
      }
    }
  }
  return broken;
}
