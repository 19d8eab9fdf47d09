import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Where `bench --otel`'s traced workers export their spans: an OTLP/HTTP endpoint on loopback that
 * reads each request to its end and answers success, so the workers pay the whole real cost of
 * exporting (serialising, batching, the HTTP round trip) while nothing is stored. It counts what
 * arrived, so the report can show that the traced phases did export and the untraced one did not.
 */
export class OtlpSink {
  private server: Server | undefined;
  /** Export requests received (one per batch the SDK sends). */
  requests = 0;
  /** Request body bytes received. */
  bytes = 0;

  /** Listens on a free loopback port; `url` is the OTLP endpoint to give OTEL_EXPORTER_OTLP_ENDPOINT. */
  async start(): Promise<string> {
    const server = createServer((req, res) => {
      req.on("data", (chunk: Buffer) => {
        this.bytes += chunk.length;
      });
      req.on("end", () => {
        this.requests++;
        // An empty ExportTraceServiceResponse: `{}` in JSON, zero bytes in protobuf.
        const json = (req.headers["content-type"] ?? "").includes("json");
        res.writeHead(200, { "content-type": json ? "application/json" : "application/x-protobuf" });
        res.end(json ? "{}" : undefined);
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** Counts so far, to tell phases apart. */
  counts(): { requests: number; bytes: number } {
    return { requests: this.requests, bytes: this.bytes };
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
