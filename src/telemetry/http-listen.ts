import type { FastifyInstance } from "fastify";
import { ErrorCode, errorMessage, OrderflowError } from "../common/errors.js";

/** A listening HTTP app and how to reach it. */
export interface HttpListener {
  /** `http://host:port/`, with the port actually bound (when 0 was asked for). */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** The flags (and environment variables) that chose the host and port, for the error's hint. */
export interface ListenFlags {
  /** What listens, as the error names it: "dashboard", "metrics". */
  what: string;
  /** `--host`, `ORDERFLOW_HOST` */
  hostFlag: string;
  hostEnv: string;
  portFlag: string;
  portEnv: string;
}

/**
 * Listens on host:port; a port in use (or a host that is not this machine's) fails with one line
 * naming them and the flags that pick others. Shared by the dashboard and the metrics listener.
 */
export async function listenHttp(
  app: FastifyInstance,
  host: string,
  port: number,
  flags: ListenFlags,
): Promise<HttpListener> {
  try {
    await app.listen({ host, port });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const f = flags;
    const hint =
      code === "EADDRINUSE"
        ? `another program uses it; pick another with ${f.portFlag} or ${f.portEnv}`
        : `check ${f.hostFlag} / ${f.hostEnv} and ${f.portFlag} / ${f.portEnv}`;
    throw new OrderflowError(
      ErrorCode.Usage,
      `${f.what} cannot listen on ${host}:${port}: ${errorMessage(err)}`,
      {
        hint,
        cause: err,
      },
    );
  }
  const address = app.server.address();
  const bound = typeof address === "object" && address !== null ? address.port : port;
  // A wildcard address is not something to type into a browser; show loopback instead.
  const shownHost =
    host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  return { url: `http://${shownHost}:${bound}/`, port: bound, close: () => app.close() };
}
