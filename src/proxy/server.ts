// Listening and draining: node:http2 with HTTP/1.1 allowed (kubectl speaks HTTP/2; its exec, attach and
// port-forward upgrades fall back to HTTP/1.1, which has Upgrade). TLS is terminated here and the client
// certificate requested (but verified per cluster later, against that cluster's own CA).

import type { IncomingMessage } from "node:http";
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import { exchangeOf, type Handler, upgradeExchangeOf } from "./exchange.js";
import { badRequest, rawStatusResponse } from "./status.js";
import type { ServingCert } from "./tls.js";

export interface ProxyServerOptions {
  port: number;
  host?: string;
  handler: Handler;
  cert: ServingCert;
  clock: Clock;
  logger: Logger;
  /** Longest a client may take to send its request head (slowloris). */
  headersTimeoutMs?: number;
  /** Longest a client may take to send a whole request; held requests must fit in it. */
  requestTimeoutMs?: number;
}

export interface ProxyServer {
  readonly port: number;
  setCertificate(cert: ServingCert): void;
  /** Stops accepting, lets requests in flight finish for up to `graceMs`, then closes what is left. */
  close(graceMs?: number): Promise<void>;
}

export async function startProxyServer(options: ProxyServerOptions): Promise<ProxyServer> {
  const { handler, clock, logger } = options;
  const server: Http2SecureServer = createSecureServer({
    allowHTTP1: true,
    cert: options.cert.cert,
    key: options.cert.key,
    requestCert: true,
    rejectUnauthorized: false,
    // client-go gives up on a TLS handshake after 10 s; nobody legitimate takes longer.
    handshakeTimeout: 10_000,
    maxHeaderListPairs: 256,
    // node:http's server disables Nagle; a TLS server does not, and small answers then wait for ACKs.
    noDelay: true,
  } as Parameters<typeof createSecureServer>[0]);
  // HTTP/1.1 side: node:http2's HTTP/1.1 fallback applies no headersTimeout, so a client must send each
  // request head within this deadline (armed at connect and after each answer; slowloris, idle keep-alive).
  const headersTimeoutMs = options.headersTimeoutMs ?? 30_000;
  const http1 = server as unknown as { requestTimeout: number };
  http1.requestTimeout = options.requestTimeoutMs ?? 300_000;
  const deadlines = new WeakMap<object, NodeJS.Timeout>();
  const armHeadDeadline = (socket: TLSSocket) => {
    clearTimeout(deadlines.get(socket));
    const timer = setTimeout(() => socket.destroy(), headersTimeoutMs);
    timer.unref();
    deadlines.set(socket, timer);
  };
  const clearHeadDeadline = (socket: object) => clearTimeout(deadlines.get(socket));

  const sockets = new Set<TLSSocket>();
  const sessions = new Set<ServerHttp2Session>();
  server.on("secureConnection", (socket: TLSSocket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      clearHeadDeadline(socket);
    });
    if (socket.alpnProtocol !== "h2") armHeadDeadline(socket);
  });
  server.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    session.on("error", () => undefined);
  });
  server.on("sessionError", () => undefined);
  server.on("tlsClientError", () => undefined);
  server.on("request", (req, res) => {
    if (req.httpVersionMajor === 1) {
      const socket = req.socket as TLSSocket;
      clearHeadDeadline(socket);
      res.once("finish", () => {
        if (!socket.destroyed) armHeadDeadline(socket);
      });
    }
    void handler(exchangeOf(req, res, clock.now()));
  });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    clearHeadDeadline(socket);
    socket.on("error", () => undefined);
    if (req.method !== "GET" && req.method !== "POST") {
      socket.end(
        rawStatusResponse(badRequest(`an upgrade must be GET (WebSocket) or POST (SPDY), not ${req.method}`)),
      );
      return;
    }
    if (!req.headers.upgrade) {
      socket.end(rawStatusResponse(badRequest("an upgrade request needs an Upgrade header")));
      return;
    }
    void handler(upgradeExchangeOf(req, socket, head, clock.now()));
  });
  // Malformed HTTP/1.1 (bad request line, oversized head, slowloris): a clean 4xx, never a crash.
  server.on("clientError", (err: Error & { code?: string }, socket: Duplex) => {
    if (!socket.writable) return socket.destroy();
    const status =
      err.code === "HPE_HEADER_OVERFLOW"
        ? { code: 431, reason: "BadRequest" as const, message: "request headers too large" }
        : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? { code: 408, reason: "Timeout" as const, message: "request not received in time" }
          : badRequest("malformed HTTP request");
    socket.end(rawStatusResponse(status));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (err) => logger.error({ err: err.message }, "proxy server error"));
  const port = (server.address() as AddressInfo).port;
  logger.info({ port }, "wake proxy listening (HTTPS, HTTP/2 and HTTP/1.1)");

  return {
    port,
    setCertificate(cert) {
      server.setSecureContext({ cert: cert.cert, key: cert.key });
    },
    async close(graceMs = 10_000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close();
      // Idle HTTP/1.1 keep-alive connections would hold close() for ever.
      (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        closed,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
        }),
      ]);
      clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      for (const session of sessions) session.destroy();
      await closed;
    },
  };
}
