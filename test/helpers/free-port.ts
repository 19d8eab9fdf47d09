import { createServer, type Server } from "node:net";

/**
 * `n` distinct TCP ports that were free on 127.0.0.1 a moment ago, for processes that need their
 * ports before they start (cluster routes name each other's). All are held open until all are
 * chosen so the same port is not handed out twice; another process may still take one before it is
 * used, which is rare enough on loopback for tests.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve());
      });
    }
    return servers.map((s) => {
      const address = s.address();
      if (address === null || typeof address === "string") throw new Error("no TCP address for a free port");
      return address.port;
    });
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port as number;
}
