import { describe, expect, it } from "vitest";
import { LoggedChild, OutputWait } from "../../src/common/logged-child.js";

const node = (script: string, opts = {}) => new LoggedChild(process.execPath, ["-e", script], opts);

describe("a child process with a bounded log", () => {
  it("resolves a wait when the text is written, on the output event", async () => {
    const c = node(
      `process.stderr.write("starting\\n"); setTimeout(() => console.log("ready now"), 200); setTimeout(() => {}, 5000);`,
    );
    expect(await c.waitForOutput("ready now", 10_000)).toBe(OutputWait.Seen);
    expect(c.output()).toContain("starting");
    expect(c.running).toBe(true);
    expect(await c.kill("SIGKILL")).toBeNull();
    expect(c.hasExited).toBe(true);
  });

  it("says it exited when the process ends without writing the text, and keeps only the last of its log", async () => {
    const c = node(`process.stderr.write("x".repeat(5000)); console.error("\\nlast line");`, {
      logLimit: 100,
    });
    expect(await c.waitForOutput("never written", 10_000)).toBe(OutputWait.Exited);
    expect(await c.exited).toBe(0);
    expect(c.output().length).toBeLessThanOrEqual(100);
    expect(c.lastLines()).toBe("last line");
  });

  it("says it timed out when the process runs on without writing it", async () => {
    const c = node(`setTimeout(() => {}, 10_000);`);
    expect(await c.waitForOutput("never written", 100)).toBe(OutputWait.TimedOut);
    await c.kill("SIGKILL");
  });

  it("reports a binary that cannot be spawned in its log and exit, not as an unhandled error", async () => {
    const c = new LoggedChild("/nonexistent/orderflow-no-such-binary", []);
    expect(await c.exited).toBeNull();
    expect(c.output()).toMatch(/spawn failed: .*ENOENT/);
    expect(c.running).toBe(false);
  });
});
