// Forwarding to a virtual cluster's API server through undici: one Pool per cluster (and identity
// mode), `dispatch` with a handler that pauses the upstream when the client's socket is full (nothing
// is buffered), no body timeout (watches, `logs -f`), upgrades piped as raw sockets with the upstream's
// own 101 headers, and a non-101 answer to an upgrade relayed with its Status body.
// Modelled on undici's docs/examples/proxy/proxy.js.
import type { IncomingHttpHeaders } from "node:http";
import { pipeline } from "node:stream";
import { type Dispatcher, Pool } from "undici";
import type { Timers } from "../reconciler/timers.js";
import type { ClusterCerts, Identity } from "./credentials.js";
import { type Exchange, reply } from "./exchange.js";
import type { ClusterRoute } from "./port.js";
import { badGateway, type ProxyStatus } from "./status.js";

/** Hop-by-hop headers (RFC 9110 §7.6.1) and those undici or HTTP/2 set themselves. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "http2-settings",
  "host",
  "expect",
  "proxy-authorization",
]);

/** Largest non-101 answer to an upgrade relayed (a Status body is a few hundred bytes). */
const MAX_UPGRADE_ERROR_BODY = 1 << 20;
/** Largest discovery answer kept in the cache. */
const MAX_KEPT_BODY = 8 << 20;
/** Connection refused right after readiness: tried again this many times, this far apart. */
const CONNECT_RETRIES = 5;
const CONNECT_RETRY_MS = 200;
/** A `/readyz` that refuses the probe (401/403) this long means a serving API server that denies it. */
const DENIED_READY_AFTER_MS = 5_000;
/** An open exec/attach/port-forward session counts as activity this often. */
export const SESSION_ACTIVITY_INTERVAL_MS = 60_000;

export type IdentityMode = "bearer" | "frontProxy";

/**
 * Request headers for the upstream: hop-by-hop and X-Remote-* removed, the identity added. An upgrade
 * carries no body (client-go's SPDY POST says `Content-Length: 0`, which undici refuses on an upgrade).
 */
export function upstreamHeaders(
  rawHeaders: readonly string[],
  identity: Identity | undefined,
  upgrade = false,
): string[] {
  const out: string[] = [];
  const certificate = identity?.kind === "certificate";
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.charCodeAt(0) === 58 /* ":" */) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower.startsWith("x-remote-")) continue;
    if (upgrade && lower === "content-length") continue;
    if (certificate && lower === "authorization") continue;
    out.push(name, rawHeaders[i + 1] as string);
  }
  if (identity?.kind === "certificate") {
    out.push("X-Remote-User", identity.user);
    for (const group of identity.groups) out.push("X-Remote-Group", group);
  }
  return out;
}

/** Response headers for the client: hop-by-hop removed (HTTP/2 forbids them). */
function clientHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = value;
  }
  return out;
}

const errorCode = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  const causeCode = (err as { cause?: { code?: unknown } } | null)?.cause?.code;
  return typeof code === "string" ? code : typeof causeCode === "string" ? causeCode : undefined;
};

/** A failure reaching the upstream, as a Status (undici's error codes are stable). */
export function upstreamFailure(route: ClusterRoute, err: unknown): ProxyStatus {
  const code = errorCode(err) ?? "error";
  // undici's messages name the failure ("invalid upgrade header"), never a header's value.
  const detail = err instanceof Error && err.message ? `: ${err.message}` : "";
  return badGateway(
    `virtual cluster ${route.namespace}/${route.name}: cannot reach its API server at ${route.upstream} (${code}${detail})`,
  );
}

interface PoolEntry {
  pool: Pool;
  fingerprint: string;
}

export interface UpstreamsOptions {
  timers: Timers;
  /** Connections per cluster and identity mode. */
  connections?: number;
}

/** One undici Pool per cluster and identity mode, rebuilt when the upstream or its certificates change. */
export class Upstreams {
  private readonly pools = new Map<string, PoolEntry>();
  constructor(private readonly options: UpstreamsOptions) {}

  /**
   * The Pool for a cluster and identity, always HTTP/1.1 towards the API server: undici's HTTP/2 client
   * joins repeated request headers into one comma-separated field, and the API server would read
   * `X-Remote-Group: a, b` (or `Impersonate-Group`) as one group; HTTP/2 also has no Upgrade (SPDY,
   * WebSocket). Upgrades get connections of their own (an upgraded socket leaves the pool).
   */
  pool(route: ClusterRoute, certs: ClusterCerts | null, mode: IdentityMode, upgrade = false): Pool {
    const key = `${route.namespace}/${route.name}/${mode}${upgrade ? "/upgrade" : ""}`;
    const fingerprint = `${route.upstream}|${certs?.version ?? "-"}`;
    const existing = this.pools.get(key);
    if (existing && existing.fingerprint === fingerprint) return existing.pool;
    if (existing) void existing.pool.close().catch(() => undefined);
    const frontProxy = mode === "frontProxy" ? certs?.frontProxy : undefined;
    const pool = new Pool(route.upstream as string, {
      connections: this.options.connections ?? 64,
      pipelining: 1,
      bodyTimeout: 0,
      headersTimeout: 300_000,
      keepAliveTimeout: 30_000,
      allowH2: false,
      connect: {
        ...(certs?.serverCa ? { ca: certs.serverCa } : {}),
        ...(frontProxy ? { cert: frontProxy.cert, key: frontProxy.key } : {}),
        rejectUnauthorized: true,
      },
    });
    this.pools.set(key, { pool, fingerprint });
    return pool;
  }

  /** Closes a cluster's pools (it is no longer routed). */
  forget(namespace: string, name: string): void {
    for (const mode of ["bearer", "frontProxy", "bearer/upgrade", "frontProxy/upgrade"]) {
      const key = `${namespace}/${name}/${mode}`;
      const entry = this.pools.get(key);
      if (entry) void entry.pool.close().catch(() => undefined);
      this.pools.delete(key);
    }
    this.deniedSince.delete(`${namespace}/${name}`);
  }

  /** Pools open and clusters with a refused probe on record, for tests (nothing may grow per request). */
  sizes(): { pools: number; deniedProbes: number } {
    return { pools: this.pools.size, deniedProbes: this.deniedSince.size };
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()].map((entry) => entry.pool.destroy().catch(() => undefined));
    this.pools.clear();
    await Promise.all(pools);
  }

  /** When each cluster's `/readyz` first refused the probe (401/403) in a row. */
  private readonly deniedSince = new Map<string, number>();

  /**
   * `/readyz` through the upstream: 200 is ready. 401/403 is ready only once it has lasted
   * DENIED_READY_AFTER_MS: an API server that refuses the probe for good still serves, but one that is
   * starting refuses it until its RBAC bootstrap is done, and is not ready then.
   */
  async probeReady(route: ClusterRoute, certs: ClusterCerts | null, now = Date.now()): Promise<boolean> {
    const key = `${route.namespace}/${route.name}`;
    if (route.upstream === null) return false;
    const mode: IdentityMode = certs?.frontProxy ? "frontProxy" : "bearer";
    const headers =
      mode === "frontProxy"
        ? { "x-remote-user": "system:slumber:readiness-probe", "x-remote-group": "system:authenticated" }
        : {};
    const signal = AbortSignal.timeout(2_000);
    try {
      const answer = await this.pool(route, certs, mode).request({
        method: "GET",
        path: "/readyz",
        headers,
        signal,
      });
      await answer.body.dump();
      if (answer.statusCode === 401 || answer.statusCode === 403) {
        const since = this.deniedSince.get(key) ?? now;
        this.deniedSince.set(key, since);
        return now - since >= DENIED_READY_AFTER_MS;
      }
      this.deniedSince.delete(key);
      return answer.statusCode === 200;
    } catch {
      this.deniedSince.delete(key);
      return false;
    }
  }

  /** Forwards an ordinary request and streams the answer back; resolves when the exchange is over. */
  forward(exchange: Exchange, pool: Pool, headers: string[], path: string): Promise<void> {
    return new Promise((resolve) => {
      let attempts = 0;
      const send = () => {
        attempts++;
        const relay = new ResponseRelay(exchange, (err) => {
          // The API server refuses connections for a moment after its pod turns Ready: try again.
          if (
            err &&
            !relay.started &&
            exchange.body === null &&
            errorCode(err) === "ECONNREFUSED" &&
            attempts <= CONNECT_RETRIES &&
            !exchange.signal.aborted
          ) {
            this.options.timers.setTimeout(send, CONNECT_RETRY_MS);
            return;
          }
          if (err && !relay.started && exchange.route) reply(exchange, upstreamFailure(exchange.route, err));
          else if (err) exchange.response?.destroy();
          resolve();
        });
        pool.dispatch(
          {
            method: exchange.method as Dispatcher.HttpMethod,
            path,
            headers,
            body: exchange.body,
          },
          relay,
        );
      };
      send();
    });
  }

  /** Forwards an upgrade; resolves when the session (or the relayed refusal) is over. */
  forwardUpgrade(
    exchange: Exchange,
    pool: Pool,
    headers: string[],
    path: string,
    onSessionOpen: () => () => void,
  ): Promise<void> {
    return new Promise((resolve) => {
      let attempts = 0;
      const send = () => {
        attempts++;
        const relay = new UpgradeRelay(exchange, onSessionOpen, (err) => {
          if (
            err &&
            !relay.started &&
            errorCode(err) === "ECONNREFUSED" &&
            attempts <= CONNECT_RETRIES &&
            !exchange.signal.aborted
          ) {
            this.options.timers.setTimeout(send, CONNECT_RETRY_MS);
            return;
          }
          if (err && !relay.started && exchange.route) reply(exchange, upstreamFailure(exchange.route, err));
          resolve();
        });
        pool.dispatch(
          {
            method: exchange.method as Dispatcher.HttpMethod,
            path,
            headers,
            upgrade: exchange.upgrade?.protocol ?? "websocket",
          },
          relay,
        );
      };
      send();
    });
  }
}

/** Streams one upstream answer to the client, pausing the upstream while the client's buffer is full. */
class ResponseRelay implements Dispatcher.DispatchHandler {
  started = false;
  private controller: Dispatcher.DispatchController | null = null;
  private kept: Buffer[] | null = null;
  private keptBytes = 0;
  private keptStatus = 0;
  private keptHeaders: Record<string, string | string[]> = {};
  private readonly onClose = () => this.controller?.abort(new Error("client closed the connection"));
  private readonly onDrain = () => this.controller?.resume();

  constructor(
    private readonly exchange: Exchange,
    private readonly done: (err?: Error) => void,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    const res = this.exchange.response;
    if (!res || res.destroyed) controller.abort(new Error("client closed the connection"));
    else res.once("close", this.onClose);
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    if (statusCode < 200) return;
    const res = this.exchange.response;
    if (!res) return;
    this.started = true;
    const out = clientHeaders(headers);
    res.on("drain", this.onDrain);
    res.writeHead(statusCode, out);
    // A watch or `logs -f` has no length: send the headers now, the client is waiting for them.
    if (headers["content-length"] === undefined) res.flushHeaders?.();
    if (this.exchange.keep && statusCode === 200) {
      this.kept = [];
      this.keptStatus = statusCode;
      this.keptHeaders = out;
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.kept) {
      this.keptBytes += chunk.length;
      if (this.keptBytes > MAX_KEPT_BODY) this.kept = null;
      else this.kept.push(chunk);
    }
    const res = this.exchange.response;
    if (res && !res.write(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    const res = this.exchange.response;
    this.cleanup();
    res?.end();
    if (this.kept && this.exchange.keep)
      this.exchange.keep(this.keptStatus, this.keptHeaders, Buffer.concat(this.kept));
    this.done();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.cleanup();
    this.done(err);
  }

  private cleanup(): void {
    const res = this.exchange.response;
    res?.off("close", this.onClose);
    res?.off("drain", this.onDrain);
  }
}

/** An upgrade: a 101 splices the two sockets; anything else is relayed whole, then the socket closes. */
class UpgradeRelay implements Dispatcher.DispatchHandler {
  started = false;
  private controller: Dispatcher.DispatchController | null = null;
  private refusal: {
    status: number;
    statusText: string;
    headers: IncomingHttpHeaders;
    body: Buffer[];
    bytes: number;
  } | null = null;
  private readonly onClose = () => this.controller?.abort(new Error("client closed the connection"));

  constructor(
    private readonly exchange: Exchange,
    private readonly onSessionOpen: () => () => void,
    private readonly done: (err?: Error) => void,
  ) {}

  private get socket() {
    return this.exchange.upgrade?.socket;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    const socket = this.socket;
    if (!socket || socket.destroyed) controller.abort(new Error("client closed the connection"));
    else socket.once("close", this.onClose);
  }

  onRequestUpgrade(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    _headers: IncomingHttpHeaders,
    upstream: import("node:stream").Duplex,
  ): void {
    const client = this.socket;
    client?.off("close", this.onClose);
    this.started = true;
    if (!client || client.destroyed) {
      upstream.destroy();
      this.done();
      return;
    }
    // The upstream's own header lines, in order and unmerged (X-Stream-Protocol-Version, Sec-WebSocket-*).
    const raw = (controller as unknown as { rawHeaders?: (Buffer | string)[] }).rawHeaders ?? [];
    let head = `HTTP/1.1 ${statusCode} Switching Protocols\r\n`;
    for (let i = 0; i + 1 < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
    client.write(`${head}\r\n`);
    const early = this.exchange.upgrade?.head;
    if (early && early.length > 0) upstream.write(early);
    for (const socket of [client, upstream] as const) {
      const s = socket as { setNoDelay?: (v: boolean) => void; setTimeout?: (ms: number) => void };
      s.setNoDelay?.(true);
      s.setTimeout?.(0);
    }
    const stopActivity = this.onSessionOpen();
    pipeline(upstream, client, upstream, () => {
      stopActivity();
      upstream.destroy();
      client.destroy();
      this.done();
    });
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusText?: string,
  ): void {
    if (statusCode < 200) return;
    this.started = true;
    this.refusal = { status: statusCode, statusText: statusText ?? "", headers, body: [], bytes: 0 };
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const refusal = this.refusal;
    if (!refusal || refusal.bytes > MAX_UPGRADE_ERROR_BODY) return;
    refusal.body.push(chunk);
    refusal.bytes += chunk.length;
  }

  onResponseEnd(): void {
    this.socket?.off("close", this.onClose);
    const refusal = this.refusal;
    const client = this.socket;
    if (refusal && client && !client.destroyed) {
      const body = Buffer.concat(refusal.body);
      let head = `HTTP/1.1 ${refusal.status} ${refusal.statusText}\r\n`;
      const headers = clientHeaders(refusal.headers);
      delete headers["content-length"];
      for (const [name, value] of Object.entries(headers))
        for (const one of Array.isArray(value) ? value : [value]) head += `${name}: ${one}\r\n`;
      head += `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
      client.end(Buffer.concat([Buffer.from(head), body]));
    }
    this.done();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.socket?.off("close", this.onClose);
    if (this.started) this.socket?.destroy();
    this.done(err);
  }
}
