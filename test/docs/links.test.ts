import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { brokenLinks, headingSlug } from "./markdown-links.js";

const root = join(import.meta.dirname, "../..");

/** The hand-written documentation: the README, the changelog and docs/*.md (not the generated API). */
function documents(): string[] {
  const docs = readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md"));
  return ["README.md", "CHANGELOG.md", ...docs.map((f) => `docs/${f}`)];
}

describe("links between the documents", () => {
  it("every relative link in README.md, CHANGELOG.md and docs/*.md reaches a file and heading", () => {
    const files = documents();
    expect(files).toContain("docs/cli.md");
    const broken = files.flatMap((f) => brokenLinks(root, f));
    expect(broken.map((b) => `${b.file}:${b.line} ${b.target}: ${b.why}`)).toEqual([]);
  });

  it("anchors are GitHub's: code marks and punctuation dropped, spaces to hyphens", () => {
    expect(headingSlug("`orderflow up` (`npm start`): the whole system and its dashboard")).toBe(
      "orderflow-up-npm-start-the-whole-system-and-its-dashboard",
    );
    expect(headingSlug("Monitoring: `orderflow status --check` and the alert rules")).toBe(
      "monitoring-orderflow-status---check-and-the-alert-rules",
    );
    expect(headingSlug("Interchangeable with the seed's Go workers")).toBe(
      "interchangeable-with-the-seeds-go-workers",
    );
  });

  it("reports a missing file and a missing heading, and skips links inside code", () => {
    const dir = mkdtempSync(join(tmpdir(), "orderflow-links-"));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, "docs"));
    writeFileSync(join(dir, "docs/b.md"), "# B\n\n## Real heading\n");
    writeFileSync(
      join(dir, "a.md"),
      [
        "# A",
        "[ok](docs/b.md#real-heading) [self](#a) [web](https://example.com/x.md)",
        "[gone](docs/c.md) [no anchor](docs/b.md#imagined)",
        "`[in code](docs/none.md)`",
        "```",
        "[in a fence](docs/none.md)",
        "```",
      ].join("\n"),
    );
    expect(brokenLinks(dir, "a.md")).toEqual([
      { file: "a.md", line: 3, target: "docs/c.md", why: "no file docs/c.md" },
      { file: "a.md", line: 3, target: "docs/b.md#imagined", why: "no heading #imagined in docs/b.md" },
    ]);
  });
});
