import { describe, expect, it } from "vitest";
import { NatsInstallError, ServerBinaryMissingError } from "../../src/common/errors.js";
import {
  ensureNatsServerBinary,
  type InstallHost,
  planNatsServerInstall,
} from "../../src/runtime/nats-install.js";

// The fresh-machine path, with the machine injected: nothing here runs apt-get, sudo or brew.

function host(platform: NodeJS.Platform, isRoot: boolean, commands: string[]): InstallHost {
  return { platform, isRoot, hasCommand: (name) => commands.includes(name) };
}

/** A binary that appears once the "package manager" has run. */
function fakeMachine(h: InstallHost, exitCodes: number[] = []) {
  let installed = false;
  const ran: string[] = [];
  const said: string[] = [];
  return {
    ran,
    said,
    deps: {
      host: h,
      find: () => {
        if (!installed) throw new ServerBinaryMissingError(["$NATS_SERVER_BIN", "$PATH", "/usr/sbin"]);
        return "/usr/sbin/nats-server";
      },
      run: async (command: string[], env: Record<string, string>) => {
        ran.push(
          `${Object.entries(env)
            .map(([k, v]) => `${k}=${v} `)
            .join("")}${command.join(" ")}`,
        );
        const code = exitCodes.shift() ?? 0;
        if (code === 0 && command.includes("install")) installed = true;
        return code;
      },
      say: (line: string) => said.push(line),
    },
  };
}

describe("installing nats-server on a fresh machine", () => {
  it("plans apt-get as root, apt-get through sudo otherwise, brew on macOS, and nothing elsewhere", () => {
    expect(planNatsServerInstall(host("linux", true, ["apt-get"]))?.commands).toEqual([
      ["apt-get", "update"],
      ["apt-get", "install", "-y", "nats-server"],
    ]);
    expect(planNatsServerInstall(host("linux", false, ["apt-get", "sudo"]))?.commands).toEqual([
      ["sudo", "apt-get", "update"],
      ["sudo", "apt-get", "install", "-y", "nats-server"],
    ]);
    expect(planNatsServerInstall(host("darwin", false, ["brew"]))?.commands).toEqual([
      ["brew", "install", "nats-server"],
    ]);
    // Not root and no sudo: apt-get cannot install; Homebrew on Linux can.
    expect(planNatsServerInstall(host("linux", false, ["apt-get", "brew"]))?.manager).toBe("brew");
    expect(planNatsServerInstall(host("linux", false, ["apt-get"]))).toBeUndefined();
    expect(planNatsServerInstall(host("win32", true, []))).toBeUndefined();
  });

  it("uses an installed binary without installing anything", async () => {
    const m = fakeMachine(host("linux", true, ["apt-get"]));
    const binary = await ensureNatsServerBinary("auto", { ...m.deps, find: () => "/opt/nats/nats-server" });
    expect(binary).toBe("/opt/nats/nats-server");
    expect(m.ran).toEqual([]);
    expect(m.said).toEqual([]);
  });

  it("installs with apt-get when missing, saying what it runs", async () => {
    const m = fakeMachine(host("linux", true, ["apt-get"]));
    expect(await ensureNatsServerBinary("auto", m.deps)).toBe("/usr/sbin/nats-server");
    expect(m.ran).toEqual([
      "DEBIAN_FRONTEND=noninteractive apt-get update",
      "DEBIAN_FRONTEND=noninteractive apt-get install -y nats-server",
    ]);
    expect(m.said[0]).toBe(
      "orderflow: nats-server is missing; installing the Debian/Ubuntu package nats-server with apt-get: apt-get update && apt-get install -y nats-server",
    );
    expect(m.said[1]).toBe("orderflow: installed /usr/sbin/nats-server");
  });

  it("dry-run says what it would run and runs nothing", async () => {
    const m = fakeMachine(host("linux", false, ["apt-get", "sudo"]));
    await expect(ensureNatsServerBinary("dry-run", m.deps)).rejects.toThrow(/dry run: nothing installed/);
    expect(m.ran).toEqual([]);
    expect(m.said).toEqual([
      "orderflow: nats-server is missing; would be installing the Debian/Ubuntu package nats-server with apt-get (through sudo; it may ask for your password): sudo apt-get update && sudo apt-get install -y nats-server",
    ]);
  });

  it("stops with one line naming every way out when it may not or cannot install", async () => {
    const never = fakeMachine(host("linux", true, ["apt-get"]));
    const refused = await ensureNatsServerBinary("never", never.deps).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NatsInstallError);
    expect(never.ran).toEqual([]);
    const nowhere = fakeMachine(host("linux", false, []));
    const err = (await ensureNatsServerBinary("auto", nowhere.deps).catch(
      (e: unknown) => e,
    )) as NatsInstallError;
    expect(err).toBeInstanceOf(NatsInstallError);
    const line = err.oneLine();
    expect(line).not.toContain("\n");
    expect(line).toMatch(
      /^nats-server not found .*neither apt-get \(as root or with sudo\) nor brew is here; install nats-server/,
    );
    expect(line).toContain("brew install nats-server");
    expect(line).toContain("NATS_SERVER_BIN");
    expect(line).toContain("`docker compose up -d` (docker-compose.yml)");
  });

  it("reports a failed package-manager run with its exit code", async () => {
    const m = fakeMachine(host("linux", true, ["apt-get"]), [0, 100]);
    await expect(ensureNatsServerBinary("auto", m.deps)).rejects.toThrow(
      "`apt-get install -y nats-server` failed with exit code 100",
    );
    expect(m.ran).toHaveLength(2);
  });
});
