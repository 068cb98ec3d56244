// One request as it travels the handler chain: what came in, where it goes, and how to answer it,
// the same for HTTP/1.1, HTTP/2 and HTTP/1.1 upgrades (exec, attach, port-forward).
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Duplex, Readable } from "node:stream";
import type { TLSSocket } from "node:tls";
import type { ProxyOutcome } from "../metrics/registry.js";
import type { ClusterCerts, Identity } from "./credentials.js";
import type { ClusterRoute } from "./port.js";
import type { RequestTarget } from "./route.js";
import { type ProxyStatus, rawStatusResponse, statusBody, statusHeaders } from "./status.js";

export interface Upgrade {
  socket: Duplex;
  head: Buffer;
  /** The `Upgrade` header: `websocket`, `SPDY/3.1`. */
  protocol: string;
}

/** What the proxy uses of an HTTP/1.1 ServerResponse or an HTTP/2 compatibility response. */
export interface ClientResponse {
  writeHead(statusCode: number, headers?: Record<string, string | string[]>): unknown;
  write(chunk: Buffer): boolean;
  end(chunk?: Buffer | string): unknown;
  /** HTTP/1.1 only: sends the head before the first body chunk (HTTP/2 sends it in writeHead). */
  flushHeaders?(): void;
  destroy(error?: Error): unknown;
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  readonly writableFinished: boolean;
  on(event: "drain" | "close", listener: () => void): unknown;
  once(event: "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
}

export interface Exchange {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** Name, value, name, value...: repeated headers stay separate (X-Stream-Protocol-Version). */
  readonly rawHeaders: readonly string[];
  /** The request body, or null when there is none. */
  readonly body: Readable | null;
  readonly tlsSocket: TLSSocket | undefined;
  readonly upgrade: Upgrade | null;
  readonly response: ClientResponse | null;
  /** Aborted when the client goes away (created on first use). */
  readonly signal: AbortSignal;
  readonly startedAt: number;
  target?: RequestTarget;
  route?: ClusterRoute;
  identity?: Identity;
  /** The cluster's `NAME-certs` as the credentials step read it (null: no such Secret). */
  certs?: ClusterCerts | null;
  /** Why the request does not count as activity; null when it counts. */
  ignored?: string | null;
  held?: boolean;
  outcome?: ProxyOutcome;
  /** Set by the discovery cache: called with a complete 200 answer to keep. */
  keep?: (status: number, headers: Record<string, string | string[]>, body: Buffer) => void;
}

export type Handler = (exchange: Exchange) => Promise<void>;

const hasBody = (req: IncomingMessage | Http2ServerRequest): boolean => {
  if ("stream" in req && req.stream) return !req.stream.endAfterHeaders;
  const length = req.headers["content-length"];
  return (length !== undefined && length !== "0") || req.headers["transfer-encoding"] !== undefined;
};

/** An ordinary request (HTTP/1.1 or HTTP/2). */
export function exchangeOf(
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
  now: number,
): Exchange {
  let controller: AbortController | undefined;
  const tlsSocket = ("stream" in req && req.stream ? req.stream.session?.socket : req.socket) as
    | TLSSocket
    | undefined;
  return {
    method: req.method ?? "GET",
    url: req.url ?? "/",
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    body: hasBody(req) ? req : null,
    tlsSocket,
    upgrade: null,
    response: res as unknown as ClientResponse,
    startedAt: now,
    get signal() {
      if (!controller) {
        const created = new AbortController();
        controller = created;
        const onClose = () => {
          if (!res.writableFinished) created.abort();
        };
        res.once("close", onClose);
        if (res.destroyed) created.abort();
      }
      return controller.signal;
    },
  };
}

/** An HTTP/1.1 upgrade: the answer is written to the raw socket. */
export function upgradeExchangeOf(req: IncomingMessage, socket: Duplex, head: Buffer, now: number): Exchange {
  let controller: AbortController | undefined;
  return {
    method: req.method ?? "GET",
    url: req.url ?? "/",
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    body: null,
    tlsSocket: socket as TLSSocket,
    upgrade: { socket, head, protocol: String(req.headers.upgrade ?? "") },
    response: null,
    startedAt: now,
    get signal() {
      if (!controller) {
        const created = new AbortController();
        controller = created;
        socket.once("close", () => created.abort());
        if (socket.destroyed) created.abort();
      }
      return controller.signal;
    },
  };
}

/** Answers with a Kubernetes Status, unless an answer has already started. */
export function reply(exchange: Exchange, status: ProxyStatus): void {
  if (exchange.upgrade) {
    const { socket } = exchange.upgrade;
    if (!socket.destroyed && socket.writable) socket.end(rawStatusResponse(status));
    return;
  }
  const res = exchange.response;
  if (!res || res.headersSent || res.destroyed) {
    if (res && !res.writableEnded) res.destroy();
    return;
  }
  const body = statusBody(status);
  res.writeHead(status.code, statusHeaders(status, Buffer.byteLength(body)));
  res.end(body);
}
