// A stand-in for a virtual cluster's API server over real TLS: records what reaches it, streams
// watches, scripts raw upgrade answers (101 or a refusal with a Status body).

import type { IncomingMessage } from "node:http";
import { createSecureServer } from "node:http2";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import type { ClusterPki } from "./pki.js";

export interface SeenRequest {
  /** "2.0" when undici spoke HTTP/2 to it. */
  httpVersion: string;
  method: string;
  url: string;
  rawHeaders: string[];
  headers: IncomingMessage["headers"];
  /** CN of the client certificate the proxy presented, if any. */
  peer: string | null;
}

export interface Backend {
  url: string;
  port: number;
  seen: SeenRequest[];
  /** Open watch responses: write to them to stream events. */
  watches: Set<import("node:http").ServerResponse>;
  ready: boolean;
  close(): Promise<void>;
}

export async function startBackend(pki: ClusterPki, port = 0): Promise<Backend> {
  const seen: SeenRequest[] = [];
  const watches = new Set<import("node:http").ServerResponse>();
  const state = { ready: true };
  const record = (req: IncomingMessage) => {
    const socket = ((req as unknown as { stream?: { session?: { socket?: TLSSocket } } }).stream?.session
      ?.socket ?? req.socket) as TLSSocket;
    const peer = socket.getPeerCertificate?.();
    seen.push({
      httpVersion: req.httpVersion,
      method: req.method ?? "",
      url: req.url ?? "",
      rawHeaders: req.rawHeaders,
      headers: req.headers,
      peer: peer && typeof peer.subject?.CN === "string" ? peer.subject.CN : null,
    });
  };
  // Offers HTTP/2 like kube-apiserver: undici then speaks HTTP/2 to it, except for upgrades.
  const sockets = new Set<import("node:net").Socket>();
  const server = createSecureServer(
    {
      cert: pki.serving.cert,
      key: pki.serving.key,
      requestCert: true,
      rejectUnauthorized: false,
      ca: pki.frontProxyCa.cert,
      allowHTTP1: true,
    },
    (req0, res0) => {
      const req = req0 as unknown as IncomingMessage;
      const res = res0 as unknown as import("node:http").ServerResponse;
      record(req);
      const path = (req.url ?? "/").split("?")[0];
      if (path === "/readyz") {
        res
          .writeHead(state.ready ? 200 : 500, { "content-type": "text/plain" })
          .end(state.ready ? "ok" : "not ready");
        return;
      }
      if (path === "/version" || path === "/api" || path === "/apis") {
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ path, accept: req.headers.accept ?? null }));
        return;
      }
      if ((req.url ?? "").includes("watch=true") || (req.url ?? "").includes("follow=true")) {
        res.writeHead(200, { "content-type": "application/json" });
        res.write(`${JSON.stringify({ type: "ADDED", object: { kind: "Namespace" } })}\n`);
        watches.add(res);
        res.on("close", () => watches.delete(res));
        return;
      }
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/json", "set-cookie": ["a=1", "b=2"] }).end(
          JSON.stringify({
            kind: "Echo",
            method: req.method,
            path: req.url,
            user: req.headers["x-remote-user"] ?? null,
            groups: req.rawHeaders.filter(
              (_, i) => i % 2 === 1 && /^x-remote-group$/i.test(req.rawHeaders[i - 1] ?? ""),
            ),
            authorization: req.headers.authorization ? "present" : null,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      });
    },
  );
  server.on("upgrade", (req: IncomingMessage, socket: Duplex) => {
    record(req);
    if ((req.url ?? "").includes("refuse")) {
      const body = JSON.stringify({
        kind: "Status",
        apiVersion: "v1",
        status: "Failure",
        message: 'pods "nope" not found',
        reason: "NotFound",
        code: 404,
      });
      socket.end(
        `HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      return;
    }
    const offered = req.rawHeaders.filter(
      (_, i) => i % 2 === 1 && /^x-stream-protocol-version$/i.test(req.rawHeaders[i - 1] ?? ""),
    );
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${req.headers.upgrade}\r\n` +
        `X-Stream-Protocol-Version: ${offered[0] ?? "none"}\r\nX-Offered-Count: ${offered.length}\r\n\r\n`,
    );
    socket.on("data", (d: Buffer) => socket.write(Buffer.concat([Buffer.from("echo:"), d])));
    socket.on("error", () => undefined);
  });
  server.on("secureConnection", (socket: import("node:net").Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${bound}`,
    port: bound,
    seen,
    watches,
    get ready() {
      return state.ready;
    },
    set ready(value: boolean) {
      state.ready = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const w of watches) w.destroy();
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
