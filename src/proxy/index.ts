// Assembles the wake proxy: memory-backed routes and certificates, undici pools, the hold, the handler
// chain and the HTTPS server. `slumber run` calls startWakeProxy once the reconciler's first pass is done.
import { hostname } from "node:os";
import type { Clock } from "../clock.js";
import { SecretCache } from "../kube/secret-cache.js";
import type { KubeClient } from "../kube/types.js";
import type { Logger } from "../log.js";
import { systemTimers, type Timers } from "../reconciler/timers.js";
import { ActivityThrottle } from "./activity.js";
import { ClusterCertsCache } from "./certs.js";
import { buildProxyHandler } from "./chain.js";
import { VerifiedTokens } from "./credentials.js";
import { DiscoveryCache } from "./discovery.js";
import { Upstreams } from "./forward.js";
import { WakeHold } from "./hold.js";
import type { ProxyObserver } from "./middleware.js";
import { type RouteSource, routeKey, type WakePort } from "./port.js";
import { startProxyServer } from "./server.js";
import { followServingCert, GENERATED_SECRET_NAME } from "./tls.js";

export type { ProxyObserver } from "./middleware.js";
export type { ClusterRoute, RouteSource, WakePort } from "./port.js";

/** `last-activity` is written at most this often per cluster. */
const ACTIVITY_REPORT_INTERVAL_MS = 60_000;

export interface WakeProxyOptions {
  port: number;
  host?: string;
  kube: KubeClient;
  routes: RouteSource;
  wakePort: WakePort;
  observer: ProxyObserver;
  clock: Clock;
  timers?: Timers;
  logger: Logger;
  /** `--proxy-base-domain`: host routing `NAME.NS.BASE`. */
  baseDomain?: string;
  /** `--proxy-cert-secret NS/NAME`; without it a certificate is generated into `agentNamespace/slumber-proxy-tls`. */
  certSecret?: { namespace: string; name: string };
  agentNamespace: string;
  wakeTimeoutMs: number;
  maxHeld: number;
  /** How often a wake is asked for again while requests are held and the cluster is not Ready (5 s; for tests). */
  wakeRetryMs?: number;
  /** `--dry-run`: nothing is written, not even a generated serving certificate's Secret. */
  dryRun?: boolean;
}

export interface WakeProxy {
  readonly port: number;
  close(graceMs?: number): Promise<void>;
  /**
   * Read-only sizes of what the proxy keeps in memory, for tests and debugging: requests held now, and
   * per-cluster entries (gates, pools, Secrets followed, discovery, activity). Only managed clusters that
   * saw a request may have entries; nothing grows per request or per unknown path.
   */
  sizes(): ProxySizes;
}

export interface ProxySizes {
  held: number;
  holdClusters: number;
  pools: number;
  deniedProbes: number;
  certs: number;
  secretsFollowed: number;
  discoveryClusters: number;
  activityClusters: number;
}

export async function startWakeProxy(options: WakeProxyOptions): Promise<WakeProxy> {
  const { kube, routes, clock, logger } = options;
  const timers = options.timers ?? systemTimers;
  const log = logger.child({ component: "proxy" });
  let server: Awaited<ReturnType<typeof startProxyServer>> | undefined;
  const secretNamespace = options.certSecret?.namespace ?? (options.agentNamespace || "slumber");
  const { cert, handle: certHandle } = await followServingCert(
    {
      kube,
      namespace: secretNamespace,
      name: options.certSecret?.name ?? GENERATED_SECRET_NAME,
      generate: options.certSecret === undefined,
      store: !options.dryRun,
      hosts: [
        "localhost",
        "127.0.0.1",
        "::1",
        hostname(),
        "slumber",
        `slumber.${secretNamespace}`,
        `slumber.${secretNamespace}.svc`,
        ...(options.baseDomain ? [options.baseDomain] : []),
      ],
      logger: log,
      now: () => clock.now(),
    },
    (rotated) => server?.setCertificate(rotated),
  );

  const secrets = new SecretCache(kube);
  const certs = new ClusterCertsCache(secrets, log);
  const upstreams = new Upstreams({ timers });
  const discovery = new DiscoveryCache();
  const throttle = new ActivityThrottle(ACTIVITY_REPORT_INTERVAL_MS);
  const hold = new WakeHold({
    routes,
    port: options.wakePort,
    probe: async (route) => upstreams.probeReady(route, await certs.certs(route.namespace, route.name)),
    clock,
    timers,
    logger: log,
    maxHeld: options.maxHeld,
    wakeTimeoutMs: options.wakeTimeoutMs,
    onHeldChange: (namespace, name, held) => options.observer.proxyHeld?.(namespace, name, held),
    ...(options.wakeRetryMs !== undefined ? { wakeRetryMs: options.wakeRetryMs } : {}),
  });
  const unsubscribe = routes.subscribe((namespace, name) => {
    if (routes.get(namespace, name)) return;
    options.observer.proxyHeld?.(namespace, name, null);
    upstreams.forget(namespace, name);
    certs.forget(namespace, name);
    discovery.forget(routeKey(namespace, name));
    throttle.forget(routeKey(namespace, name));
  });
  const handler = buildProxyHandler({
    routes,
    port: options.wakePort,
    certs,
    upstreams,
    hold,
    discovery,
    throttle,
    verified: new VerifiedTokens(),
    observer: options.observer,
    clock,
    timers,
    logger: log,
    baseDomain: options.baseDomain,
    wakeTimeoutMs: options.wakeTimeoutMs,
    maxHeld: options.maxHeld,
  });
  server = await startProxyServer({
    port: options.port,
    ...(options.host ? { host: options.host } : {}),
    handler,
    cert,
    clock,
    logger: log,
    requestTimeoutMs: Math.max(300_000, options.wakeTimeoutMs + 60_000),
  });
  const listening = server;
  return {
    port: listening.port,
    sizes: () => {
      const gates = hold.sizes();
      const pooled = upstreams.sizes();
      return {
        held: gates.held,
        holdClusters: gates.clusters,
        pools: pooled.pools,
        deniedProbes: pooled.deniedProbes,
        certs: certs.size,
        secretsFollowed: secrets.size,
        discoveryClusters: discovery.size,
        activityClusters: throttle.size,
      };
    },
    async close(graceMs) {
      unsubscribe();
      hold.close();
      await listening.close(graceMs);
      await Promise.all([upstreams.close(), secrets.stop(), certHandle.stop()]);
    },
  };
}
