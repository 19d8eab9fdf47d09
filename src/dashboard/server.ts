import type { FastifyInstance } from "fastify";
import { type HttpListener, listenHttp } from "../telemetry/http-listen.js";

/** A listening dashboard and how to reach it. */
export type DashboardServer = HttpListener;

/** Listens on host:port; a port in use fails with one line saying how to pick another. */
export function listenDashboard(app: FastifyInstance, host: string, port: number): Promise<DashboardServer> {
  return listenHttp(app, host, port, {
    what: "dashboard",
    hostFlag: "--host",
    hostEnv: "ORDERFLOW_HOST",
    portFlag: "--port",
    portEnv: "ORDERFLOW_PORT",
  });
}
