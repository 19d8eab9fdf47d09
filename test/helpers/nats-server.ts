import { onTestFinished } from "vitest";
import { NatsServer, type NatsServerOptions } from "../../src/common/nats-server.js";

export { NatsServer };

/**
 * A nats-server of this test's own (free ports, temp store), stopped and removed when the test ends.
 * On failure its log is printed so the server's side of the story is not lost.
 */
export async function startServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  const server = await NatsServer.start({ maxFileStore: "1G", ...opts });
  onTestFinished(async (ctx) => {
    if (ctx.task.result?.state === "fail") {
      process.stderr.write(`--- nats-server log (port ${server.port}) ---\n${server.logs().slice(-4000)}\n`);
    }
    await server.cleanup();
  });
  return server;
}
