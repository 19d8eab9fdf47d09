import { spawn } from "node:child_process";
import { onTestFinished } from "vitest";
import { findNatsServerBinary } from "../../src/common/nats-server.js";
import { probe } from "../../src/common/tcp-probe.js";
import { freePort } from "../helpers/free-port.js";
import { waitFor } from "../helpers/wait.js";

/** A plain `nats-server` without JetStream, as Debian's packaged service runs on 4222. */
export async function startPlainNats(port?: number): Promise<number> {
  port ??= await freePort();
  const child = spawn(findNatsServerBinary(), ["-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  onTestFinished(async () => {
    child.kill("SIGKILL");
    await exited;
  });
  const listening = port;
  await waitFor("the plain nats-server listening", () => probe("127.0.0.1", listening));
  return listening;
}
