// The small handlers of the proxy, each with one concern; chain.ts lists them in order.
// Each takes the next handler and its own dependencies, and is tested alone with a stub `next`.
import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import type { ProxyOutcome } from "../metrics/registry.js";
import type { Timers } from "../reconciler/timers.js";
import { type ActivityThrottle, IGNORE_HEADER, ignoredBecause, SessionActivity } from "./activity.js";
import { type CertsSource, CertsUnavailableError } from "./certs.js";
import { authenticate, type VerifiedTokens } from "./credentials.js";
import { DiscoveryCache } from "./discovery.js";
import { type Exchange, type Handler, reply } from "./exchange.js";
import { SESSION_ACTIVITY_INTERVAL_MS, type Upstreams, upstreamHeaders } from "./forward.js";
import { RETRY_AFTER_SECONDS, type WakeHold } from "./hold.js";
import { type RouteSource, routeKey, type WakePort } from "./port.js";
import { parseTarget } from "./route.js";
import { badGateway, notFound, type ProxyStatus, unavailable } from "./status.js";

/** `Retry-After` when a cluster's Secret cannot be read yet: the Secret's watch retries from 1 s, doubling. */
export const CERTS_RETRY_AFTER_SECONDS = 5;

/** Counts outcomes (slumber_proxy_requests_total); the metrics registry implements it. */
export interface ProxyObserver {
  proxyRequest(namespace: string, name: string, outcome: ProxyOutcome): void;
  /** Requests a cluster has held now (slumber_proxy_held_requests); null once it is no longer routed. */
  proxyHeld?(namespace: string, name: string, held: number | null): void;
}

function count(observer: ProxyObserver, exchange: Exchange, outcome: ProxyOutcome): void {
  exchange.outcome = outcome;
  const route = exchange.route;
  if (route) observer.proxyRequest(route.namespace, route.name, outcome);
}

function refuse(
  observer: ProxyObserver,
  exchange: Exchange,
  status: ProxyStatus,
  outcome: ProxyOutcome = "rejected",
): void {
  count(observer, exchange, outcome);
  reply(exchange, status);
}

/** Innermost: sends the request to the cluster's API server with the caller's identity. */
export function upstream(deps: {
  upstreams: Upstreams;
  certs: CertsSource;
  port: WakePort;
  clock: Clock;
  timers: Timers;
  observer: ProxyObserver;
}): Handler {
  return async (exchange) => {
    const route = exchange.route;
    const target = exchange.target;
    if (!route || !target) throw new Error("upstream handler reached without a route");
    const certs =
      exchange.certs !== undefined ? exchange.certs : await deps.certs.certs(route.namespace, route.name);
    const certificate = exchange.identity?.kind === "certificate";
    if (certificate && !certs?.frontProxy) {
      refuse(
        deps.observer,
        exchange,
        badGateway(
          `virtual cluster ${route.namespace}/${route.name}: client-certificate users cannot be forwarded (no front-proxy-client.crt/.key in Secret ${route.namespace}/${route.name}-certs)`,
        ),
      );
      return;
    }
    const pool = deps.upstreams.pool(
      route,
      certs,
      certificate ? "frontProxy" : "bearer",
      exchange.upgrade !== null,
    );
    const headers = upstreamHeaders(exchange.rawHeaders, exchange.identity, exchange.upgrade !== null);
    count(deps.observer, exchange, "forwarded");
    if (!exchange.upgrade) return deps.upstreams.forward(exchange, pool, headers, target.upstreamPath);
    const ref = { namespace: route.namespace, name: route.name };
    const sessions = new SessionActivity(
      () => {
        if (!exchange.ignored) deps.port.recordActivity(ref, deps.clock.now(), "session");
      },
      deps.timers,
      SESSION_ACTIVITY_INTERVAL_MS,
    );
    return deps.upstreams.forwardUpgrade(exchange, pool, headers, target.upstreamPath, () => sessions.open());
  };
}

/** Holds requests for a cluster that is not ready, waking it once; 503 past --max-held, 504 past --wake-timeout. */
export function withHold(next: Handler, deps: { hold: WakeHold; observer: ProxyObserver }): Handler {
  return async (exchange) => {
    const route = exchange.route;
    if (!route) return next(exchange);
    const upgrade = exchange.upgrade !== null;
    let result = deps.hold.admit(route, {
      upgrade,
      ignored: Boolean(exchange.ignored),
      source: upgrade ? "session" : "request",
      signal: () => exchange.signal,
    });
    if (result instanceof Promise) {
      exchange.held = true;
      count(deps.observer, exchange, "held");
      result = await result;
    }
    if (result.kind === "aborted") return;
    if (result.kind === "rejected") return refuse(deps.observer, exchange, result.status, result.outcome);
    return next(exchange);
  };
}

/** `/api`, `/apis`, `/version`: kept while awake, answered from memory while the cluster is not ready. */
export function withDiscovery(next: Handler, deps: { cache: DiscoveryCache; hold: WakeHold }): Handler {
  return async (exchange) => {
    const route = exchange.route;
    const target = exchange.target;
    if (
      !route ||
      !target ||
      exchange.upgrade ||
      !DiscoveryCache.isDiscovery(exchange.method, target.upstreamPath)
    )
      return next(exchange);
    const cluster = routeKey(route.namespace, route.name);
    const accept = exchange.headers.accept;
    if (!route.ready) {
      const kept = deps.cache.get(cluster, target.upstreamPath, accept);
      if (kept && exchange.response) {
        if (!exchange.ignored) deps.hold.wake(route, "request");
        exchange.response.writeHead(kept.status, kept.headers);
        exchange.response.end(exchange.method === "HEAD" ? undefined : kept.body);
        return;
      }
    }
    exchange.keep = (status, headers, body) =>
      deps.cache.keep(cluster, target.upstreamPath, accept, { status, headers, body });
    return next(exchange);
  };
}

/** Decides whether the request counts as use and reports it (throttled to once a minute per cluster). */
export function withActivity(
  next: Handler,
  deps: { port: WakePort; throttle: ActivityThrottle; clock: Clock },
): Handler {
  return async (exchange) => {
    const route = exchange.route;
    const target = exchange.target;
    if (!route || !target) return next(exchange);
    exchange.ignored = ignoredBecause(
      target.upstreamPath,
      { userAgent: exchange.headers["user-agent"], ignoreHeader: exchange.headers[IGNORE_HEADER] },
      route.ignoreUserAgents,
    );
    // A sleeping cluster's activity is recorded by the wake (hold); here only an awake one's.
    if (exchange.ignored === null && route.ready) {
      const now = deps.clock.now();
      if (deps.throttle.take(routeKey(route.namespace, route.name), now))
        deps.port.recordActivity(
          { namespace: route.namespace, name: route.name },
          now,
          exchange.upgrade ? "session" : "request",
        );
    }
    return next(exchange);
  };
}

/** No credential, or one that fails an offline check: 401, and nothing behind this handler runs (no wake). */
export function withCredentials(
  next: Handler,
  deps: {
    certs: CertsSource;
    verified: VerifiedTokens;
    clock: Clock;
    observer: ProxyObserver;
    logger: Logger;
  },
): Handler {
  return async (exchange) => {
    const route = exchange.route;
    if (!route) return next(exchange);
    const cluster = routeKey(route.namespace, route.name);
    let certs: Awaited<ReturnType<CertsSource["certs"]>>;
    try {
      certs = await deps.certs.certs(route.namespace, route.name);
    } catch (err) {
      if (!(err instanceof CertsUnavailableError)) throw err;
      // Credentials cannot be checked (nor the upstream's CA trusted) yet: retry, and do not wake.
      deps.logger.warn(
        { target: cluster, secret: err.secret },
        "request refused: the cluster's Secret cannot be read yet",
      );
      return refuse(
        deps.observer,
        exchange,
        unavailable(
          `virtual cluster ${cluster}: Secret ${err.secret} cannot be read from the API server yet, so credentials cannot be checked; retry`,
          CERTS_RETRY_AFTER_SECONDS,
        ),
      );
    }
    exchange.certs = certs;
    const identity = await authenticate(
      {
        authorization: exchange.headers.authorization,
        peerCertificate: () => exchange.tlsSocket?.getPeerX509Certificate?.(),
      },
      cluster,
      certs,
      deps.clock.now(),
      deps.verified,
    );
    if ("code" in identity) {
      deps.logger.info({ target: cluster, reason: identity.message }, "request refused: credentials");
      return refuse(deps.observer, exchange, identity);
    }
    exchange.identity = identity;
    return next(exchange);
  };
}

/**
 * Finds the cluster (path or host) among the managed ones in memory; anything else is 404. While the
 * agent starts (its first pass not done), a cluster not yet seen is waited for, up to `startupWaitMs`.
 */
export function withRouting(
  next: Handler,
  deps: {
    routes: RouteSource;
    baseDomain: string | undefined;
    startupWaitMs?: number;
    /** Requests that may wait for the first pass at once (`--max-held`); past it, 503 with Retry-After. */
    startupMaxWaiting?: number;
  },
): Handler {
  // One reaction on `complete` for every request that waits for it. A Promise.race per request left one
  // reaction each on that promise until the first pass is done, which may be never (the API server is
  // down at start): memory that grew with every request, answered or not.
  const waiting = new Set<() => void>();
  // Bounded like the requests held for a waking cluster, so an agent whose first pass cannot finish does
  // not keep an unbounded number of requests and sockets open. Upgrades (exec, attach, port-forward) are
  // counted apart: client-go does not retry them, so ordinary requests must not crowd them out.
  const counts = { plain: 0, upgrade: 0 };
  let following = false;
  const untilComplete = (ms: number, kind: keyof typeof counts, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      if (!following) {
        following = true;
        void deps.routes.complete.then(() => {
          for (const done of [...waiting]) done();
        });
      }
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        if (waiting.delete(done)) counts[kind]--;
        resolve();
      };
      const timer = setTimeout(done, ms);
      waiting.add(done);
      counts[kind]++;
      // A client that went away gives its place back at once, not after --wake-timeout.
      signal.addEventListener("abort", done, { once: true });
    });
  return async (exchange) => {
    const host = exchange.headers.host ?? (exchange.headers[":authority"] as string | undefined);
    const target = parseTarget(exchange.url, host, deps.baseDomain);
    if ("code" in target) return reply(exchange, target);
    let route = deps.routes.get(target.namespace, target.name);
    if (!route && !deps.routes.isComplete()) {
      const kind = exchange.upgrade ? "upgrade" : "plain";
      const limit = deps.startupMaxWaiting ?? 1000;
      if (counts[kind] >= limit)
        return reply(
          exchange,
          unavailable(
            `the wake proxy is starting (its first pass over the virtual clusters is not done) and ${limit} ${kind === "upgrade" ? "exec, attach or port-forward sessions" : "requests"} are already waiting; retry`,
            RETRY_AFTER_SECONDS,
          ),
        );
      if (exchange.signal.aborted) return;
      await untilComplete(deps.startupWaitMs ?? 60_000, kind, exchange.signal);
      if (exchange.signal.aborted) return; // nobody to answer
      route = deps.routes.get(target.namespace, target.name);
    }
    if (!route)
      return reply(
        exchange,
        notFound(`no virtual cluster ${target.namespace}/${target.name} managed by Slumber`),
      );
    exchange.target = target;
    exchange.route = route;
    return next(exchange);
  };
}

/** Outermost: an unexpected failure becomes a 500 Status and a log line (without headers). */
export function withErrors(next: Handler, deps: { logger: Logger }): Handler {
  return async (exchange) => {
    try {
      await next(exchange);
    } catch (err) {
      deps.logger.error(
        {
          err: (err as Error).message,
          target: exchange.route ? routeKey(exchange.route.namespace, exchange.route.name) : undefined,
        },
        "proxy request failed",
      );
      reply(exchange, {
        code: 500,
        reason: "InternalError",
        message: "the wake proxy failed on this request",
      });
    }
  };
}
