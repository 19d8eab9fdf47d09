import type { FastifyInstance } from "fastify";
import { ErrorCode, errorMessage, OrderflowError } from "../common/errors.js";

/** A listening dashboard and how to reach it. */
export interface DashboardServer {
  /** `http://host:port/`, with the port actually bound (when 0 was asked for). */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Listens on host:port; a port in use fails with one line saying how to pick another. */
export async function listenDashboard(
  app: FastifyInstance,
  host: string,
  port: number,
): Promise<DashboardServer> {
  try {
    await app.listen({ host, port });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint =
      code === "EADDRINUSE"
        ? "another program uses it; pick another with --port or ORDERFLOW_PORT"
        : "check --host / ORDERFLOW_HOST and --port / ORDERFLOW_PORT";
    throw new OrderflowError(
      ErrorCode.Usage,
      `dashboard cannot listen on ${host}:${port}: ${errorMessage(err)}`,
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
  return {
    url: `http://${shownHost}:${bound}/`,
    port: bound,
    close: () => app.close(),
  };
}
