// A proxy Exchange without sockets: a plain request whose answer is recorded (status, headers, body).
import type { ClientResponse, Exchange } from "../../src/proxy/exchange.js";
import type { ClusterRoute } from "../../src/proxy/port.js";
import { T0 } from "./harness.js";

export function fakeResponse() {
  const sent: { status?: number; headers?: Record<string, string | string[]>; body: string } = { body: "" };
  const res = {
    headersSent: false,
    destroyed: false,
    writableEnded: false,
    writableFinished: false,
    writeHead(status: number, headers?: Record<string, string | string[]>) {
      sent.status = status;
      sent.headers = headers;
      res.headersSent = true;
    },
    write: (chunk: Buffer) => {
      sent.body += chunk.toString();
      return true;
    },
    end(chunk?: Buffer | string) {
      if (chunk) sent.body += chunk.toString();
      res.writableEnded = true;
    },
    destroy() {},
    on() {},
    once() {},
    off() {},
  };
  return { res: res as unknown as ClientResponse, sent };
}

export function exchange(url: string, headers: Record<string, string> = {}, extra: Partial<Exchange> = {}) {
  const { res, sent } = fakeResponse();
  const ex: Exchange = {
    method: "GET",
    url,
    headers,
    rawHeaders: Object.entries(headers).flat(),
    body: null,
    tlsSocket: undefined,
    upgrade: null,
    response: res,
    signal: new AbortController().signal,
    startedAt: T0,
    ...extra,
  };
  return { ex, sent };
}

/** A managed, awake and ready cluster vc-a/a. */
export const awakeRoute: ClusterRoute = {
  namespace: "vc-a",
  name: "a",
  upstream: "https://a.vc-a.svc:443",
  asleep: false,
  ready: true,
  ignoreUserAgents: [],
};
