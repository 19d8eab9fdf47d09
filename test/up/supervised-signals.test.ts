import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it, onTestFinished } from "vitest";
import { probe } from "../../src/common/tcp-probe.js";
import { CLI, cliEnv } from "../helpers/cli.js";
import { connectTo, publishOrders, subjectCounts, withTopology } from "../helpers/fixtures.js";
import { startServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

const REPO = fileURLToPath(new URL("../../", import.meta.url));

interface Supervised {
  child: ChildProcess;
  stdout(): string;
  exited: Promise<number | null>;
}

/** Starts a command as a process manager would, keeping only the PID it started. */
function supervise(command: string, args: string[]): Supervised {
  // Its own process group, so the test can clean up whatever a failure leaves behind (a supervisor
  // would too: systemd stops the whole cgroup), while the signal under test goes to one PID only.
  const child = spawn(command, args, {
    cwd: REPO,
    env: cliEnv(),
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  child.stdout?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.resume();
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  onTestFinished(async () => {
    try {
      process.kill(-(child.pid as number), "SIGKILL");
    } catch (err) {
      // ESRCH: the group is gone, nothing was left behind. Anything else is the test's problem.
      if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
    }
    await exited;
  });
  return { child, stdout: () => out, exited };
}

/**
 * A process manager (systemd, a container runtime, a script) signals only the PID it started, never
 * the whole process group as a terminal's Ctrl-C does: that PID must be orderflow itself or pass
 * the signal on, or the drain never starts and node is left behind holding the dashboard's port.
 */
describe("orderflow up under a process manager: SIGTERM to the PID it started", () => {
  it.each([
    ["node dist/main.js up (the command the README says to supervise)", process.execPath, [CLI, "up"]],
    ["npm start", "npm", ["start", "--silent", "--"]],
  ])("%s drains, exits 0 and leaves nothing holding the port", async (_what, command, args) => {
    const server = await startServer();
    const nc = await connectTo(server);
    const jsm = await withTopology(nc);
    const up = supervise(command, [...args, "-s", server.url, "--port", "0", "--managed-server", "never"]);
    const url = await waitFor("the dashboard URL", () => {
      if (up.child.exitCode !== null) throw new Error(`exited with ${up.child.exitCode}:\n${up.stdout()}`);
      return /^dashboard: http:\/\/127\.0\.0\.1:(\d+)\//m.exec(up.stdout())?.[1];
    });
    const port = Number(url);
    await publishOrders(nc, 200);
    await waitFor("orders flowing", async () => ((await subjectCounts(jsm))["ORDERS.completed"] ?? 0) > 0);

    up.child.kill("SIGTERM");
    expect(await up.exited).toBe(0);
    expect(up.stdout()).toMatch(/stopping: draining in-flight orders…\nstopped\n$/);
    // Nothing of it is left: no orphaned node serving the dashboard, nothing unacked.
    expect(await probe("127.0.0.1", port)).toBe(false);
    for (const consumer of ["NEW", "DISPATCH"]) {
      expect((await jsm.consumers.info("ORDERS", consumer)).num_ack_pending).toBe(0);
    }
  });
});
