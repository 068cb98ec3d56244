// The whole request path of the wake proxy in one place, innermost first (like KEDA's BuildProxyHandler).
import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import type { Timers } from "../reconciler/timers.js";
import type { ActivityThrottle } from "./activity.js";
import type { CertsSource } from "./certs.js";
import type { VerifiedTokens } from "./credentials.js";
import type { DiscoveryCache } from "./discovery.js";
import type { Handler } from "./exchange.js";
import type { Upstreams } from "./forward.js";
import type { WakeHold } from "./hold.js";
import {
  type ProxyObserver,
  upstream,
  withActivity,
  withCredentials,
  withDiscovery,
  withErrors,
  withHold,
  withRouting,
} from "./middleware.js";
import type { RouteSource, WakePort } from "./port.js";

export interface ProxyHandlerDeps {
  routes: RouteSource;
  port: WakePort;
  certs: CertsSource;
  upstreams: Upstreams;
  hold: WakeHold;
  discovery: DiscoveryCache;
  throttle: ActivityThrottle;
  verified: VerifiedTokens;
  observer: ProxyObserver;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  baseDomain: string | undefined;
  wakeTimeoutMs: number;
  /** `--max-held`: also bounds the requests waiting for the agent's first pass. */
  maxHeld: number;
}

export function buildProxyHandler(deps: ProxyHandlerDeps): Handler {
  let h: Handler = upstream(deps); // undici Pool.dispatch: streams, upgrades, retry of refused connections
  h = withHold(h, deps); // not ready: one wake, held until Ready and /readyz; 503 past --max-held, 504 past --wake-timeout
  h = withDiscovery(h, { cache: deps.discovery, hold: deps.hold }); // /api, /apis, /version from memory during a wake
  h = withActivity(h, deps); // counts as use unless ignored; at most one report a minute per cluster
  h = withCredentials(h, deps); // 401 before anything can wake the cluster
  h = withRouting(h, { ...deps, startupWaitMs: deps.wakeTimeoutMs, startupMaxWaiting: deps.maxHeld }); // /vcluster/NS/NAME/... or NAME.NS.BASE → a managed cluster, else 404 (waits for the first pass)
  h = withErrors(h, deps); // last resort: 500 with a Status body
  return h;
}
