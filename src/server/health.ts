import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../log.js";

export interface HealthServerOptions {
  port: number;
  /** Interface to bind; all interfaces by default, as a pod's probes and Prometheus come from outside. */
  host?: string;
  /** Prometheus text exposition and its content type. */
  metrics: { metricsText(): Promise<string>; readonly contentType: string };
  /** True once the reconciler has completed a pass and can act (`/readyz`). */
  isReady: () => boolean;
  logger: Logger;
}

export interface HealthServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** `/metrics`, `/healthz` (the process answers) and `/readyz` (the reconciler is ready); 404 otherwise. */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const { metrics, isReady, logger } = options;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
      return;
    }
    switch (path) {
      case "/healthz":
        res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
        return;
      case "/readyz": {
        const ready = isReady();
        res
          .writeHead(ready ? 200 : 503, { "content-type": "text/plain" })
          .end(ready ? "ok\n" : "not ready\n");
        return;
      }
      case "/metrics":
        metrics.metricsText().then(
          (text) => res.writeHead(200, { "content-type": metrics.contentType }).end(text),
          (error: unknown) => {
            logger.error({ err: error }, "collecting metrics failed");
            res.writeHead(500, { "content-type": "text/plain" }).end("collecting metrics failed\n");
          },
        );
        return;
      default:
        res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  logger.info({ port }, "serving /metrics, /healthz and /readyz");
  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
