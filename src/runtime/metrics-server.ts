import { createServer, type Server } from "node:http";
import type { ApiMetrics } from "../api/metrics.js";

/** Serves /metrics (and /healthz) for a process without the API: a worker, so it can be scraped. */
export async function startMetricsServer(metrics: ApiMetrics, port: number, host: string): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.url === "/healthz") {
      response.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
      return;
    }
    if (request.url !== "/metrics") {
      response.writeHead(404).end();
      return;
    }
    metrics.registry.metrics().then(
      (text) => response.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500).end(String(error)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  return server;
}
