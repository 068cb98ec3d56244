// A scripted Kubernetes API server over real HTTP (node:http on 127.0.0.1, an ephemeral port), so tests go
// through client-node's generated clients and Watch, undici and the response headers exactly as in a cluster.
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import type { CachedKind } from "../../src/kube/listwatch.js";
import { KubeError } from "../../src/kube/types.js";
import type { FakeApiServer } from "./apiserver.js";

export interface SeenRequest {
  method: string;
  /** Path without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
}

/** Answers one request; may write to `res` over time (a watch) or destroy its socket (a dropped connection). */
export type Handler = (req: SeenRequest, res: ServerResponse) => void | Promise<void>;

export interface FakeHttpApi {
  kubeConfig: KubeConfig;
  requests: SeenRequest[];
  close(): Promise<void>;
}

export async function startFakeHttpApi(handler: Handler): Promise<FakeHttpApi> {
  const requests: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://localhost");
      const seen = {
        method: req.method ?? "GET",
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      requests.push(seen);
      Promise.resolve(handler(seen, res)).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(599);
        res.end(String(err));
      });
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: "fake", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "fake", token: "fake-token" }],
    contexts: [{ name: "fake", cluster: "fake", user: "fake" }],
    currentContext: "fake",
  });
  return {
    kubeConfig,
    requests,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Writes a JSON answer. */
export function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

/** A Kubernetes Status, as the API server sends with every error. */
export function status(
  res: ServerResponse,
  code: number,
  reason: string,
  message: string,
  headers: Record<string, string> = {},
) {
  json(res, code, { kind: "Status", apiVersion: "v1", status: "Failure", message, reason, code }, headers);
}

const RESOURCE_KINDS: Record<string, CachedKind> = {
  namespaces: "Namespace",
  pods: "Pod",
  secrets: "Secret",
  deployments: "Deployment",
  statefulsets: "StatefulSet",
  cronjobs: "CronJob",
  scaledobjects: "ScaledObject",
};

/** The LIST and WATCH of an in-memory FakeApiServer over HTTP, with ways to break the watch streams. */
export interface HttpListWatch {
  handler: Handler;
  /** Open watch responses. */
  open(): number;
  /** Destroys every watch connection mid-stream: no terminating chunk, the client sees the body cut. */
  dropConnections(): void;
  /** The next event of `kind` goes out as half a JSON line, then its connection is destroyed or ended. */
  truncateNext(kind: CachedKind, close: "destroy" | "end"): void;
  /** Answers the next `times` WATCH requests of `path` with this HTTP status instead (e.g. 500). */
  failWatches(path: string, code: number, times: number): void;
  /** Answers the next LISTs of `path` with `code` and this Retry-After, `times` times. */
  failLists(path: string, code: number, retryAfter: string, times: number): void;
}

/** Serves `server`'s LIST and WATCH at the paths ApiServerListWatch requests. */
export function httpListWatch(server: FakeApiServer): HttpListWatch {
  const watches = new Set<ServerResponse>();
  const truncate = new Map<CachedKind, "destroy" | "end">();
  const dropped = new WeakSet<ServerResponse>();
  const failingWatches = new Map<string, { code: number; times: number }>();
  const failingLists = new Map<string, { code: number; retryAfter: string; times: number }>();
  const handler: Handler = async (req, res) => {
    const match = /^\/(?:api\/v1|apis\/[^/]+\/[^/]+)(?:\/namespaces\/([^/]+))?\/([a-z]+)$/.exec(req.path);
    const kind = match ? RESOURCE_KINDS[match[2] ?? ""] : undefined;
    if (!match || !kind || req.method !== "GET") return status(res, 404, "NotFound", `no ${req.path}`);
    const namespace = match[1];
    if (req.query.get("watch") !== "true") {
      const fail = failingLists.get(req.path);
      if (fail && fail.times > 0) {
        fail.times--;
        return status(res, fail.code, "TooManyRequests", "injected", { "Retry-After": fail.retryAfter });
      }
      try {
        const page = await server.list(kind, {
          ...(namespace ? { namespace } : {}),
          limit: Number(req.query.get("limit") ?? "500"),
          ...(req.query.get("continue") ? { continue: req.query.get("continue") ?? "" } : {}),
        });
        return json(res, 200, {
          kind: `${kind}List`,
          metadata: {
            resourceVersion: page.resourceVersion,
            ...(page.continue ? { continue: page.continue } : {}),
          },
          items: page.items,
        });
      } catch (err) {
        const code = err instanceof KubeError ? (err.code ?? 500) : 500;
        return status(res, code, "Injected", String(err));
      }
    }
    const failing = failingWatches.get(req.path);
    if (failing && failing.times > 0) {
      failing.times--;
      return status(res, failing.code, "InternalError", "injected watch failure");
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.flushHeaders();
    watches.add(res);
    let ended = false;
    const stream = await server.watch(
      kind,
      {
        resourceVersion: req.query.get("resourceVersion") ?? "",
        timeoutSeconds: Number(req.query.get("timeoutSeconds") ?? "300"),
      },
      (type, object) => {
        if (ended || dropped.has(res) || res.destroyed) return;
        const line = `${JSON.stringify({ type, object })}\n`;
        const close = truncate.get(kind);
        if (close && type !== "ERROR" && type !== "BOOKMARK") {
          truncate.delete(kind);
          res.write(line.slice(0, Math.floor(line.length / 2)));
          ended = true;
          // Let the half line reach the client before the connection goes.
          setTimeout(() => (close === "destroy" ? res.socket?.destroy() : res.end()), 5);
          return;
        }
        res.write(line);
      },
      (err) => {
        ended = true;
        if (err) res.socket?.destroy();
        else res.end();
      },
    );
    res.on("close", () => {
      ended = true;
      watches.delete(res);
      stream.stop();
    });
  };
  return {
    handler,
    open: () => watches.size,
    dropConnections: () => {
      for (const res of [...watches]) {
        dropped.add(res);
        res.socket?.destroy();
      }
    },
    truncateNext: (kind, close) => truncate.set(kind, close),
    failWatches: (path, code, times) => {
      failingWatches.set(path, { code, times });
    },
    failLists: (path, code, retryAfter, times) => {
      failingLists.set(path, { code, retryAfter, times });
    },
  };
}
