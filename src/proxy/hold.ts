// Hold and wake (SPEC §7 "Sleeping target"): requests for a cluster that is not ready wait here, one wake
// per cluster however many arrive, each with a deadline; when the control plane is Ready by watch and
// `/readyz` answers through the upstream, the held requests are released in small batches.
// Shaped like KEDA's ReadyEndpointsCache.WaitForReady: a map of per-cluster gates fed by the reconciler's
// route table, re-checked on every change, with cancellation by AbortSignal. Timers are injected.
import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import type { Timers } from "../reconciler/timers.js";
import { type ActivitySource, type ClusterRoute, type RouteSource, routeKey, type WakePort } from "./port.js";
import { badGateway, gatewayTimeout, notFound, type ProxyStatus, unavailable } from "./status.js";

export type HoldResult =
  /** Forward now; `held` when the request waited for a wake. */
  | { kind: "ready"; held: boolean }
  | { kind: "rejected"; status: ProxyStatus; outcome: "rejected" | "timeout" }
  /** The client went away while held. */
  | { kind: "aborted" };

export interface HoldRequest {
  /** Upgrades are never answered 503 (client-go does not retry them) and are not counted against the bound. */
  upgrade: boolean;
  /** Ignored requests (health checks, ignored user agents) never wake a cluster. */
  ignored: boolean;
  source: ActivitySource;
  /** The client's abort signal, asked for only when the request has to wait. */
  signal?: () => AbortSignal;
}

export interface HoldOptions {
  routes: RouteSource;
  port: WakePort;
  /** GET /readyz through the upstream: true once the API server serves. */
  probe: (route: ClusterRoute) => Promise<boolean>;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  /** `--max-held`: held requests per cluster before 503 (upgrades excepted). */
  maxHeld: number;
  /** `--wake-timeout`: how long one request waits. */
  wakeTimeoutMs: number;
  /** Held requests released together; the next batch follows after `releaseIntervalMs`. */
  releaseBatch?: number;
  releaseIntervalMs?: number;
  /** Between two `/readyz` probes of a cluster whose control plane is Ready. */
  probeIntervalMs?: number;
  /**
   * While requests are held and the control plane is still not Ready, the wake is asked for again this
   * often (same activity time): a wake whose write failed (API server down) is otherwise only retried by
   * the reconciler's next full pass, which may come after `--wake-timeout`.
   */
  wakeRetryMs?: number;
  /** Told the number of held requests of a cluster whenever it changes (the held-requests gauge). */
  onHeldChange?: (namespace: string, name: string, held: number) => void;
}

const READY: HoldResult = { kind: "ready", held: false };

/** `Retry-After` for a request past `--max-held`: client-go retries up to 10 times. */
export const RETRY_AFTER_SECONDS = 5;

interface Waiter {
  upgrade: boolean;
  finish(result: HoldResult): void;
}

interface Gate {
  namespace: string;
  name: string;
  waiters: Set<Waiter>;
  /** `/readyz` answered through the upstream since the control plane last became Ready. */
  upstreamReady: boolean;
  /** A wake was asked for and the cluster has not been ready since: the single flight. */
  wakeRequested: boolean;
  probing: boolean;
  releasing: boolean;
  /** The activity that asked for the wake, asked again every `wakeRetryMs` while requests wait. */
  wakeAsk: { at: number; source: ActivitySource } | null;
  wakeRetry: unknown;
}

export class WakeHold {
  private readonly gates = new Map<string, Gate>();
  private readonly unsubscribe: () => void;
  private readonly releaseBatch: number;
  private readonly releaseIntervalMs: number;
  private readonly probeIntervalMs: number;
  private readonly wakeRetryMs: number;

  constructor(private readonly options: HoldOptions) {
    this.releaseBatch = options.releaseBatch ?? 64;
    this.releaseIntervalMs = options.releaseIntervalMs ?? 5;
    this.probeIntervalMs = options.probeIntervalMs ?? 100;
    this.wakeRetryMs = options.wakeRetryMs ?? 5_000;
    this.unsubscribe = options.routes.subscribe((namespace, name) => this.onRouteChange(namespace, name));
  }

  close(): void {
    this.unsubscribe();
    for (const gate of this.gates.values())
      for (const waiter of [...gate.waiters])
        waiter.finish({
          kind: "rejected",
          status: unavailable("the proxy is shutting down", 1),
          outcome: "rejected",
        });
    for (const gate of this.gates.values()) this.stopWakeRetry(gate);
    this.gates.clear();
  }

  /** Held requests of a cluster, for tests and logs. */
  heldCount(namespace: string, name: string): number {
    return this.gates.get(routeKey(namespace, name))?.waiters.size ?? 0;
  }

  /** Read-only sizes for tests: clusters with a gate (managed ones that saw a request) and requests held in all. */
  sizes(): { clusters: number; held: number } {
    let held = 0;
    for (const gate of this.gates.values()) held += gate.waiters.size;
    return { clusters: this.gates.size, held };
  }

  /** The answer at once (forward now, or refuse), or a promise when the request has to wait. */
  admit(route: ClusterRoute, request: HoldRequest): HoldResult | Promise<HoldResult> {
    const gate = this.gate(route);
    if (route.ready && gate.upstreamReady) return READY;
    if (route.upstream === null)
      return {
        kind: "rejected",
        status: badGateway(route.upstreamError ?? "no upstream"),
        outcome: "rejected",
      };
    if (request.ignored && !route.ready)
      return {
        kind: "rejected",
        status: unavailable(
          `virtual cluster ${route.namespace}/${route.name} is asleep, and this request does not wake it (health check, X-Sleep-Mode-Ignore or an ignored user agent)`,
        ),
        outcome: "rejected",
      };
    if (!request.upgrade && this.boundedCount(gate) >= this.options.maxHeld)
      return {
        kind: "rejected",
        status: unavailable(
          `virtual cluster ${route.namespace}/${route.name} is waking up and ${this.options.maxHeld} requests are already waiting; retry`,
          RETRY_AFTER_SECONDS,
        ),
        outcome: "rejected",
      };
    const signal = request.signal?.();
    if (signal?.aborted) return { kind: "aborted" };

    const result = new Promise<HoldResult>((resolve) => {
      const { timers, wakeTimeoutMs } = this.options;
      const timer = timers.setTimeout(() => {
        waiter.finish({
          kind: "rejected",
          status: gatewayTimeout(
            `virtual cluster ${route.namespace}/${route.name} did not become ready within ${Math.round(wakeTimeoutMs / 1000)}s (--wake-timeout)`,
          ),
          outcome: "timeout",
        });
      }, wakeTimeoutMs);
      const onAbort = () => waiter.finish({ kind: "aborted" });
      const waiter: Waiter = {
        upgrade: request.upgrade,
        finish: (outcome) => {
          if (!gate.waiters.delete(waiter)) return;
          timers.clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          if (gate.waiters.size === 0) {
            this.stopWakeRetry(gate);
            // Every waiter gave up before the cluster was ready: the next request asks again.
            if (outcome.kind !== "ready") gate.wakeRequested = false;
          }
          this.options.onHeldChange?.(gate.namespace, gate.name, gate.waiters.size);
          resolve(outcome);
        },
      };
      gate.waiters.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.options.onHeldChange?.(gate.namespace, gate.name, gate.waiters.size);
    });
    if (!route.ready && !request.ignored) this.wake(route, request.source);
    if (route.ready) this.probe(gate);
    return result;
  }

  /** Asks the reconciler to wake the cluster, once until it is ready (single flight). */
  wake(route: ClusterRoute, source: ActivitySource): void {
    const gate = this.gate(route);
    if (route.ready || gate.wakeRequested) return;
    gate.wakeRequested = true;
    this.options.logger.info(
      { target: routeKey(route.namespace, route.name) },
      "request for a sleeping virtual cluster: waking it",
    );
    gate.wakeAsk = { at: this.options.clock.now(), source };
    this.options.port.requestWake({ namespace: route.namespace, name: route.name }, gate.wakeAsk.at, source);
    if (gate.waiters.size > 0) this.armWakeRetry(gate);
  }

  /**
   * Asks for the wake again (same activity time) while requests wait and the control plane is not Ready:
   * the reconciler retries a failed write only on its next full pass, and nothing else would ask again
   * while the single flight is up. Idempotent on the reconciler's side.
   */
  private armWakeRetry(gate: Gate): void {
    if (gate.wakeRetry !== null) return;
    gate.wakeRetry = this.options.timers.setTimeout(() => {
      gate.wakeRetry = null;
      const route = this.options.routes.get(gate.namespace, gate.name);
      if (!route || route.ready || gate.waiters.size === 0 || !gate.wakeAsk) return;
      this.options.logger.debug(
        { target: routeKey(gate.namespace, gate.name), held: gate.waiters.size },
        "virtual cluster still not ready for held requests: asking for the wake again",
      );
      this.options.port.requestWake(
        { namespace: gate.namespace, name: gate.name },
        gate.wakeAsk.at,
        gate.wakeAsk.source,
      );
      this.armWakeRetry(gate);
    }, this.wakeRetryMs);
  }

  private stopWakeRetry(gate: Gate): void {
    if (gate.wakeRetry === null) return;
    this.options.timers.clearTimeout(gate.wakeRetry);
    gate.wakeRetry = null;
  }

  private boundedCount(gate: Gate): number {
    let count = 0;
    for (const waiter of gate.waiters) if (!waiter.upgrade) count++;
    return count;
  }

  private gate(route: ClusterRoute): Gate {
    const key = routeKey(route.namespace, route.name);
    let gate = this.gates.get(key);
    if (!gate) {
      gate = {
        namespace: route.namespace,
        name: route.name,
        waiters: new Set(),
        upstreamReady: false,
        wakeRequested: false,
        probing: false,
        releasing: false,
        wakeAsk: null,
        wakeRetry: null,
      };
      this.gates.set(key, gate);
    }
    return gate;
  }

  private onRouteChange(namespace: string, name: string): void {
    const key = routeKey(namespace, name);
    const gate = this.gates.get(key);
    if (!gate) return;
    const route = this.options.routes.get(namespace, name);
    if (!route) {
      this.stopWakeRetry(gate);
      for (const waiter of [...gate.waiters])
        waiter.finish({
          kind: "rejected",
          status: notFound(`virtual cluster ${namespace}/${name} is no longer managed by Slumber`),
          outcome: "rejected",
        });
      this.gates.delete(key);
      return;
    }
    if (!route.ready) {
      gate.upstreamReady = false;
      return;
    }
    gate.wakeRequested = false;
    this.stopWakeRetry(gate);
    if (gate.waiters.size > 0) this.probe(gate);
  }

  /** Probes `/readyz` until it answers (or nobody waits any more), then releases the held requests. */
  private probe(gate: Gate): void {
    if (gate.probing || gate.upstreamReady) {
      if (gate.upstreamReady) this.release(gate);
      return;
    }
    gate.probing = true;
    const attempt = async (): Promise<void> => {
      const route = this.options.routes.get(gate.namespace, gate.name);
      if (!route?.ready || gate.waiters.size === 0) {
        gate.probing = false;
        return;
      }
      let ok = false;
      try {
        ok = await this.options.probe(route);
      } catch {
        ok = false;
      }
      if (ok) {
        gate.probing = false;
        gate.upstreamReady = true;
        this.release(gate);
        return;
      }
      this.options.timers.setTimeout(() => void attempt(), this.probeIntervalMs);
    };
    void attempt();
  }

  /** Releases held requests `releaseBatch` at a time: 1,000 go within ~80 ms, not all in one tick. */
  private release(gate: Gate): void {
    if (gate.releasing) return;
    gate.releasing = true;
    const step = () => {
      let released = 0;
      for (const waiter of [...gate.waiters]) {
        if (released++ >= this.releaseBatch) break;
        waiter.finish({ kind: "ready", held: true });
      }
      if (gate.waiters.size > 0 && gate.upstreamReady)
        this.options.timers.setTimeout(step, this.releaseIntervalMs);
      else gate.releasing = false;
    };
    step();
  }
}
