import { createConnection } from "node:net";

export interface TcpProbeResult<T> {
  /** The TCP handshake succeeded. */
  connected: boolean;
  /** What `read` made of the bytes received; undefined when it never decided or nothing came. */
  answer: T | undefined;
}

/**
 * One short TCP connection to host:port. Without `read` it hangs up once connected; with it, it
 * reads until `read` (given everything received so far, as latin1) returns an answer, the peer hangs
 * up, or `timeoutMs` passes.
 */
export function probeTcp<T = never>(
  host: string,
  port: number,
  { timeoutMs, read }: { timeoutMs: number; read?: (received: string) => T | undefined },
): Promise<TcpProbeResult<T>> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    let connected = false;
    let received = "";
    const done = (answer?: T): void => {
      socket.destroy();
      resolve({ connected, answer });
    };
    socket.setTimeout(timeoutMs, () => done());
    socket.once("connect", () => {
      connected = true;
      if (!read) done();
    });
    if (read) {
      socket.on("data", (chunk: Buffer) => {
        received += chunk.toString("latin1");
        const answer = read(received);
        if (answer !== undefined) done(answer);
      });
    }
    socket.once("error", () => done());
    socket.once("end", () => done());
  });
}

/** True when something accepts TCP connections on host:port. */
export async function probe(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return (await probeTcp(host, port, { timeoutMs })).connected;
}
