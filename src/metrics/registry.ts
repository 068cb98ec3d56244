import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { Prices } from "../config/types.js";
import type { DesiredState, TargetKind } from "../policy/types.js";
import type { ReconcileObserver } from "../reconciler/observer.js";
import { type TargetRef, type TargetView, targetKey } from "../targets/types.js";
import type { CostLabel } from "./cost-labels.js";

/** Where the prices in effect came from: the flags (or their defaults), or OpenCost's series in Prometheus. */
export type PriceSource = "flags" | "prometheus";

/** How the wake proxy disposed of a request (SPEC §6, §7). */
export type ProxyOutcome = "forwarded" | "held" | "timeout" | "rejected";

/** A wake takes from a second (namespace of small Deployments) to minutes (vcluster with a cold etcd). */
const WAKE_BUCKETS_SECONDS = [1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300];
const RECONCILE_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const TARGET_LABELS = ["kind", "namespace", "name"] as const;

/** What the previous observation of a target saw; accrual needs the interval and its end states. */
interface LastObservation {
  at: number;
  asleep: boolean;
  currency: string;
}

/**
 * Slumber's Prometheus metrics (SPEC §6) on a registry of their own, fed by the reconciler through
 * ReconcileObserver and by the wake proxy through `proxyRequest`.
 */
export class SlumberMetrics implements ReconcileObserver {
  readonly registry = new Registry();

  private readonly asleep = new Gauge({
    name: "slumber_target_asleep",
    help: "1 when the target is asleep, 0 when awake.",
    labelNames: TARGET_LABELS,
    registers: [this.registry],
  });
  private readonly hourlyCost = new Gauge({
    name: "slumber_target_hourly_cost",
    help: "Estimated cost per hour of the target when awake, in the label's currency.",
    labelNames: [...TARGET_LABELS, "currency"],
    registers: [this.registry],
  });
  private readonly asleepSeconds = new Counter({
    name: "slumber_asleep_seconds_total",
    help: "Seconds the target has spent asleep, as observed by this agent.",
    labelNames: TARGET_LABELS,
    registers: [this.registry],
  });
  private readonly savings = new Counter({
    name: "slumber_estimated_savings_total",
    help: "Cost not spent while the target was asleep: hourly cost snapshot × hours asleep.",
    labelNames: [...TARGET_LABELS, "currency"],
    registers: [this.registry],
  });
  private readonly transitions = new Counter({
    name: "slumber_transitions_total",
    help: "Transitions of the target to a state, by reason.",
    labelNames: [...TARGET_LABELS, "to", "reason"],
    registers: [this.registry],
  });
  private readonly wakeDuration = new Histogram({
    name: "slumber_wake_duration_seconds",
    help: "Seconds from the wake decision (or request) until the target is ready.",
    labelNames: ["kind"],
    buckets: WAKE_BUCKETS_SECONDS,
    registers: [this.registry],
  });
  private readonly proxyRequests = new Counter({
    name: "slumber_proxy_requests_total",
    help: "Requests through the wake proxy by outcome (forwarded, held, timeout, rejected).",
    labelNames: ["namespace", "name", "outcome"],
    registers: [this.registry],
  });
  private readonly proxyHeldRequests = new Gauge({
    name: "slumber_proxy_held_requests",
    help: "Requests the wake proxy holds now for the virtual cluster (waiting for it to wake).",
    labelNames: ["namespace", "name"],
    registers: [this.registry],
  });
  private readonly policyErrors = new Gauge({
    name: "slumber_policy_errors",
    help: "Number of settings of the target that do not parse; the target is left as it is.",
    labelNames: TARGET_LABELS,
    registers: [this.registry],
  });
  private readonly reconcileDuration = new Histogram({
    name: "slumber_reconcile_duration_seconds",
    help: "Duration of one reconcile pass over all targets.",
    buckets: RECONCILE_BUCKETS_SECONDS,
    registers: [this.registry],
  });
  private readonly apiErrors = new Counter({
    name: "slumber_api_errors_total",
    help: "Failed calls to the Kubernetes API server by operation and HTTP status (0: no response).",
    labelNames: ["operation", "code"],
    registers: [this.registry],
  });

  private readonly alwaysOnCost = new Counter({
    name: "slumber_estimated_always_on_cost_total",
    help: "Cost the target would have had running all the time the agent observed it: hourly cost × hours observed.",
    labelNames: [...TARGET_LABELS, "currency"],
    registers: [this.registry],
  });
  private readonly targetInfo: Gauge;
  private readonly desiredAsleep = new Gauge({
    name: "slumber_target_desired_asleep",
    help: "What the policy wants now (schedule, inactivity, force): 1 asleep, 0 awake; absent when unmanaged.",
    labelNames: TARGET_LABELS,
    registers: [this.registry],
  });
  private readonly waking = new Gauge({
    name: "slumber_target_waking",
    help: "1 from a wake until the target is ready; stays 1 while a wake does not complete.",
    labelNames: TARGET_LABELS,
    registers: [this.registry],
  });
  private readonly prices = new Gauge({
    name: "slumber_price_per_hour",
    help: "Price in effect: resource cpu_core is per vCPU-hour, memory_gib per GiB-hour; source flags or prometheus.",
    labelNames: ["resource", "currency", "source"],
    registers: [this.registry],
  });
  private readonly priceFetchErrors = new Counter({
    name: "slumber_price_fetch_errors_total",
    help: "Failed reads of prices from Prometheus (--prices-from-prometheus); the flags' prices apply meanwhile.",
    registers: [this.registry],
  });

  private readonly costLabels: readonly CostLabel[];
  /** Labels of each target's info series, so a changed team label replaces the old series. */
  private readonly infoLabels = new Map<string, Record<string, string>>();
  private readonly lastObservations = new Map<string, LastObservation>();
  /** `to`/`reason` label pairs counted per target, so its transition series can be deleted with it. */
  private readonly transitionLabels = new Map<string, Map<string, { to: string; reason: string }>>();

  constructor(options: { defaultMetrics?: boolean; costLabels?: readonly CostLabel[] } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.costLabels = options.costLabels ?? [];
    this.targetInfo = new Gauge({
      name: "slumber_target_info",
      help: "1 per managed target, carrying its --cost-labels (sanitized) for joins on kind, namespace, name.",
      labelNames: [...TARGET_LABELS, ...this.costLabels.map((label) => label.name)],
      registers: [this.registry],
    });
  }

  /** Publishes the prices in effect; the previous source's series are replaced. */
  pricesInEffect(prices: Prices, source: PriceSource): void {
    this.prices.reset();
    this.prices.set({ resource: "cpu_core", currency: prices.currency, source }, prices.cpuCoreHour);
    this.prices.set({ resource: "memory_gib", currency: prices.currency, source }, prices.memoryGiBHour);
  }

  /** One failed read of prices from Prometheus. */
  priceFetchFailed(): void {
    this.priceFetchErrors.inc();
  }

  /** Prometheus text exposition of every metric. */
  metricsText(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  targetObserved(view: TargetView, now: number): void {
    const labels = { kind: view.kind, namespace: view.namespace, name: view.name };
    const key = targetKey(view);
    const isAsleep = view.state === "asleep";
    const previous = this.lastObservations.get(key);

    if (previous && previous.currency !== view.currency) {
      this.hourlyCost.remove({ ...labels, currency: previous.currency });
    }
    this.asleep.set(labels, isAsleep ? 1 : 0);
    this.hourlyCost.set({ ...labels, currency: view.currency }, view.hourlyCost);
    this.policyErrors.set(labels, view.policyErrors.length);
    // Make the counters visible at 0 from the first observation, so rate() and increase() work.
    this.asleepSeconds.inc(labels, 0);
    this.savings.inc({ ...labels, currency: view.currency }, 0);
    this.alwaysOnCost.inc({ ...labels, currency: view.currency }, 0);

    if (previous && now > previous.at) {
      // The denominator of "cost avoided": the same observed time, asleep or awake, at the cost in effect.
      this.alwaysOnCost.inc(
        { ...labels, currency: view.currency },
        (view.hourlyCost * (now - previous.at)) / 3_600_000,
      );
    }
    if (previous) {
      const asleepMs = asleepWithin(previous, isAsleep, view.since, now);
      if (asleepMs > 0) {
        const hours = asleepMs / 3_600_000;
        this.asleepSeconds.inc(labels, asleepMs / 1000);
        this.savings.inc({ ...labels, currency: view.currency }, view.hourlyCost * hours);
      }
    }
    this.lastObservations.set(key, { at: now, asleep: isAsleep, currency: view.currency });
    this.observeInfo(key, view);
  }

  /** The info series (managed targets only) and the policy's wish. */
  private observeInfo(key: string, view: TargetView): void {
    const labels = { kind: view.kind, namespace: view.namespace, name: view.name };
    if (view.desired === "unmanaged") this.desiredAsleep.remove(labels);
    else this.desiredAsleep.set(labels, view.desired === "asleep" ? 1 : 0);
    const previous = this.infoLabels.get(key);
    if (view.state === "unmanaged") {
      if (previous) this.targetInfo.remove(previous);
      this.infoLabels.delete(key);
      return;
    }
    const info: Record<string, string> = { ...labels };
    for (const { key: labelKey, name } of this.costLabels) info[name] = view.costLabels?.[labelKey] ?? "";
    if (previous && JSON.stringify(previous) !== JSON.stringify(info)) this.targetInfo.remove(previous);
    this.targetInfo.set(info, 1);
    this.infoLabels.set(key, info);
  }

  targetRemoved(ref: TargetRef): void {
    const labels = { kind: ref.kind, namespace: ref.namespace, name: ref.name };
    const key = targetKey(ref);
    const previous = this.lastObservations.get(key);
    this.asleep.remove(labels);
    this.asleepSeconds.remove(labels);
    this.policyErrors.remove(labels);
    if (previous) {
      this.hourlyCost.remove({ ...labels, currency: previous.currency });
      this.savings.remove({ ...labels, currency: previous.currency });
      this.alwaysOnCost.remove({ ...labels, currency: previous.currency });
    }
    for (const { to, reason } of this.transitionLabels.get(key)?.values() ?? []) {
      this.transitions.remove({ ...labels, to, reason });
    }
    this.lastObservations.delete(key);
    this.transitionLabels.delete(key);
    this.desiredAsleep.remove(labels);
    this.waking.remove(labels);
    const info = this.infoLabels.get(key);
    if (info) this.targetInfo.remove(info);
    this.infoLabels.delete(key);
  }

  transition(ref: TargetRef, to: DesiredState, reason: string): void {
    this.transitions.inc({ kind: ref.kind, namespace: ref.namespace, name: ref.name, to, reason });
    // A sleep abandons a wake in flight (the reconciler forgets it too).
    if (to === "asleep") this.waking.remove({ kind: ref.kind, namespace: ref.namespace, name: ref.name });
    const key = targetKey(ref);
    const seen = this.transitionLabels.get(key) ?? new Map();
    seen.set(JSON.stringify([to, reason]), { to, reason });
    this.transitionLabels.set(key, seen);
  }

  wakeStarted(ref: TargetRef): void {
    this.waking.set({ kind: ref.kind, namespace: ref.namespace, name: ref.name }, 1);
  }

  wakeCompleted(kind: TargetKind, seconds: number, ref?: TargetRef): void {
    this.wakeDuration.observe({ kind }, seconds);
    if (ref) this.waking.set({ kind: ref.kind, namespace: ref.namespace, name: ref.name }, 0);
  }

  loopCompleted(seconds: number): void {
    this.reconcileDuration.observe(seconds);
  }

  apiError(operation: string, code: number | undefined): void {
    this.apiErrors.inc({ operation, code: String(code ?? 0) });
  }

  /** Counts one request through the wake proxy. */
  proxyRequest(namespace: string, name: string, outcome: ProxyOutcome): void {
    this.proxyRequests.inc({ namespace, name, outcome });
  }

  /** Requests held now for a cluster; null removes its series (no longer routed). */
  proxyHeld(namespace: string, name: string, held: number | null): void {
    if (held === null) this.proxyHeldRequests.remove({ namespace, name });
    else this.proxyHeldRequests.set({ namespace, name }, held);
  }
}

/**
 * Milliseconds of (previous.at, now] the target certainly spent asleep. Asleep at both ends: the whole
 * interval, or only since it last fell asleep if `since` says it slept again in between. One end
 * awake: only the part `since` (the time of the change) vouches for; nothing without it.
 */
function asleepWithin(
  previous: LastObservation,
  asleepNow: boolean,
  since: number | null,
  now: number,
): number {
  const start = previous.at;
  if (now <= start) return 0;
  const sinceInInterval = since !== null && since > start && since <= now;
  if (previous.asleep && asleepNow) return sinceInInterval ? now - since : now - start;
  if (previous.asleep && !asleepNow) return sinceInInterval ? since - start : 0;
  if (!previous.asleep && asleepNow) return sinceInInterval ? now - since : 0;
  return 0;
}
