// Level-triggered reconciler: every pass reads each target, asks the policy what it should be, and
// performs the next missing steps. Informers, a de-duplicating queue, a periodic resync and one timer
// per target (at the decision's next transition) only decide *when* a pass runs.
import type { Clock } from "../clock.js";
import type { AgentConfig } from "../config/types.js";
import {
  type ControlPlane,
  describeRef,
  type KubeClient,
  KubeError,
  type NamespaceObject,
  type ObjectRef,
  type WatchEvent,
  type WatchHandle,
} from "../kube/types.js";
import type { Logger } from "../log.js";
import { Annotations } from "../policy/annotations.js";
import type { PolicyError, SleepReason } from "../policy/types.js";
import type { ActivitySource, ClusterRef, WakePort } from "../proxy/port.js";
import { planLastActivity } from "../targets/activity.js";
import { formatTimestamp, parseTimestamp } from "../targets/bookkeeping.js";
import {
  ACTIVITY_WRITE_INTERVAL_MS,
  isNamespaceAsleep,
  namespaceRef,
  planActivityRecord,
  planNamespaceSleep,
  planNamespaceWake,
} from "../targets/namespace.js";
import { applyStep, type Step } from "../targets/steps.js";
import { type TargetRef, type TargetView, targetKey } from "../targets/types.js";
import {
  controlPlaneRef,
  isPaused,
  planVclusterAdoption,
  planVclusterSleep,
  planVclusterWake,
} from "../targets/vcluster.js";
import { ActivityBaselines, syncedPodCounting, WAKE_SETTLE_MS, workloadFingerprints } from "./activity.js";
import {
  type Evaluated,
  evaluateNamespace,
  evaluateVcluster,
  hostsControlPlane,
  unmanagedBecause,
  viewOf,
} from "./evaluate.js";
import type { ReconcileObserver } from "./observer.js";
import { RouteTable, routeOf } from "./routes.js";

/** Timers, injectable so tests drive schedule transitions with a fake clock. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimers: Timers = {
  setTimeout: (fn, ms) => {
    const handle = setTimeout(fn, ms);
    handle.unref?.();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface ReconcilerDeps {
  kube: KubeClient;
  config: AgentConfig;
  clock: Clock;
  observer: ReconcileObserver;
  logger: Logger;
  timers?: Timers;
}

/** Bounds one target's pass: conflicts re-read and retried this many times, then left to the next pass. */
const MAX_CONFLICT_RETRIES = 3;
/** Bounds the steps of one pass (a vcluster sleep is 3; a namespace sleep is one per workload). */
const MAX_STEPS_PER_PASS = 500;
/** Targets reconciled concurrently in a full pass. */
const PASS_CONCURRENCY = 8;
/** Longest timer: longer waits are covered by resyncs (and setTimeout overflows past ~24.8 days). */
const MAX_TIMER_MS = 24 * 3_600_000;

const EVENT_FOR: Partial<
  Record<Step["purpose"], { reason: string; action: string; type: "Normal" | "Warning" }>
> = {
  revertUndone: { reason: "RevertUndone", action: "Sleep", type: "Warning" },
  adoptPause: { reason: "PausedExternally", action: "Sleep", type: "Normal" },
  adoptResume: { reason: "ResumedExternally", action: "Wake", type: "Normal" },
};

export class Reconciler implements WakePort {
  /** Managed virtual clusters as the wake proxy routes to them, updated by every pass. */
  readonly routes = new RouteTable();
  /** Activity reported by the wake proxy, written by the next pass of that cluster. */
  private readonly pendingActivity = new Map<string, { at: number; source: ActivitySource }>();
  private readonly kube: KubeClient;
  private readonly config: AgentConfig;
  private readonly clock: Clock;
  private readonly observer: ReconcileObserver;
  private readonly logger: Logger;
  private readonly timers: Timers;

  private readonly targetViews = new Map<string, TargetView>();
  private readonly transitionTimers = new Map<string, unknown>();
  /** Wake decision time per target, until it is ready. */
  private readonly pendingWakes = new Map<string, number>();
  /** Last reported policy-error signature per target: one Event per distinct error, not one per pass. */
  private readonly reportedErrors = new Map<string, string>();
  /** Workload specs (namespaces) and synced pods (vclusters) as last recorded: their changes are use. */
  private readonly activity = new ActivityBaselines();
  /** Virtual clusters by host namespace, managed or not: a Namespace change may make one a target. */
  private readonly releasesByNamespace = new Map<string, Set<string>>();

  /** One pass at a time per target: a watch-triggered pass and a full pass must not both act on it. */
  private readonly targetLocks = new Map<string, Promise<void>>();
  private readonly queue = new Set<string>();
  private draining: Promise<void> | null = null;
  private watches: WatchHandle[] = [];
  private resyncTimer: unknown = null;
  private running = false;
  private synced = false;
  private firstPassDone = false;

  constructor(deps: ReconcilerDeps) {
    this.kube = deps.kube;
    this.config = deps.config;
    this.clock = deps.clock;
    this.observer = deps.observer;
    this.logger = deps.logger;
    this.timers = deps.timers ?? systemTimers;
  }

  /**
   * WakePort: a held request wants this cluster awake; recorded as activity, which the policy wakes for.
   * A pass of its own right away, not behind the queue: someone is waiting.
   */
  requestWake(ref: ClusterRef, at: number, source: ActivitySource): void {
    const target: TargetRef = { kind: "vcluster", namespace: ref.namespace, name: ref.name };
    this.noteActivity(target, at, source);
    if (this.running) void this.reconcileTarget(target);
  }

  /** WakePort: a forwarded request; written as `last-activity` by the next pass, at most once a minute. */
  recordActivity(ref: ClusterRef, at: number, source: ActivitySource): void {
    const target: TargetRef = { kind: "vcluster", namespace: ref.namespace, name: ref.name };
    this.noteActivity(target, at, source);
    this.enqueue(target);
  }

  private noteActivity(target: TargetRef, at: number, source: ActivitySource): void {
    const key = targetKey(target);
    const known = this.pendingActivity.get(key);
    if (!known || at > known.at) this.pendingActivity.set(key, { at, source });
  }

  views(): TargetView[] {
    return [...this.targetViews.values()];
  }

  isReady(): boolean {
    return this.synced && this.firstPassDone;
  }

  /** One pass over every target; one failing target never stops the others. */
  async reconcileAll(): Promise<void> {
    const started = this.clock.now();
    let planes: ControlPlane[];
    let namespaces: NamespaceObject[];
    try {
      [planes, namespaces] = await Promise.all([this.kube.listControlPlanes(), this.kube.listNamespaces()]);
    } catch (err) {
      this.reportApiError(err, "list targets");
      return;
    }
    const namespaceByName = new Map(namespaces.map((ns) => [ns.meta.name, ns]));
    const hostNamespaces = new Set(planes.map((p) => p.meta.namespace));
    const jobs: { key: string; run: () => Promise<void> }[] = [];
    this.releasesByNamespace.clear();
    for (const plane of planes) this.rememberRelease(plane.meta.namespace, plane.release);
    // A target whose lock was held while we waited has changed since the list: read it again.
    for (const plane of planes) {
      const namespace = namespaceByName.get(plane.meta.namespace);
      // An excluded namespace is skipped unless Slumber left something in it asleep: that is woken first.
      if (!namespace || (this.namespaceExcluded(plane.meta.namespace) && !sleptBySlumber(plane.meta)))
        continue;
      const ref: TargetRef = { kind: "vcluster", namespace: plane.meta.namespace, name: plane.release };
      jobs.push({
        key: targetKey(ref),
        run: () =>
          this.exclusive(ref, (waited) =>
            waited ? this.reconcileFresh(ref) : this.reconcileVcluster(plane, namespace, namespaces),
          ),
      });
    }
    for (const namespace of namespaces) {
      const name = namespace.meta.name;
      // No namespace target (it hosts a virtual cluster, or is excluded) unless Slumber left it asleep: woken first.
      if ((hostNamespaces.has(name) || this.namespaceExcluded(name)) && !sleptBySlumber(namespace.meta))
        continue;
      const ref: TargetRef = { kind: "namespace", namespace: name, name };
      jobs.push({
        key: targetKey(ref),
        run: () =>
          this.exclusive(ref, (waited) =>
            waited ? this.reconcileFresh(ref) : this.reconcileNamespace(namespace),
          ),
      });
    }
    await runPool(jobs, PASS_CONCURRENCY, (job) => this.guard(job.run));
    const current = new Set(jobs.map((job) => job.key));
    for (const key of [...this.targetViews.keys()]) {
      if (!current.has(key)) this.forget(key);
    }
    this.firstPassDone = true;
    this.routes.setComplete();
    this.observer.loopCompleted((this.clock.now() - started) / 1000);
  }

  /** One target, read fresh from the API server. */
  async reconcileTarget(ref: TargetRef): Promise<TargetView | null> {
    await this.guard(() => this.exclusive(ref, () => this.reconcileFresh(ref)));
    return this.targetViews.get(targetKey(ref)) ?? null;
  }

  private async reconcileFresh(ref: TargetRef): Promise<void> {
    if (ref.kind === "vcluster") {
      const [plane, namespace] = await Promise.all([
        this.kube.getControlPlane(ref.namespace, ref.name),
        this.kube.getNamespace(ref.namespace),
      ]);
      if (!plane || !namespace || (this.namespaceExcluded(ref.namespace) && !sleptBySlumber(plane.meta)))
        return this.forget(targetKey(ref));
      await this.reconcileVcluster(plane, namespace);
    } else {
      const namespace = await this.kube.getNamespace(ref.name);
      if (!namespace || (this.namespaceExcluded(ref.name) && !sleptBySlumber(namespace.meta)))
        return this.forget(targetKey(ref));
      await this.reconcileNamespace(namespace);
    }
  }

  /** Runs `run` once no other pass holds the target; `waited` tells it whether one did. */
  private async exclusive(ref: TargetRef, run: (waited: boolean) => Promise<void>): Promise<void> {
    const key = targetKey(ref);
    const previous = this.targetLocks.get(key);
    const current = (async () => {
      if (previous) await previous;
      await run(previous !== undefined);
    })();
    const settled = current.then(
      () => undefined,
      () => undefined,
    );
    this.targetLocks.set(key, settled);
    try {
      await current;
    } finally {
      if (this.targetLocks.get(key) === settled) this.targetLocks.delete(key);
    }
  }

  /** Informers, queue, resync and timers. Resolves once the informers have synced and the first pass is done. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.watches = [
      this.kube.watch("controlPlanes", (e) => this.onWatchEvent(e)),
      this.kube.watch("namespaces", (e) => this.onWatchEvent(e)),
      this.kube.watch("workloads", (e) => this.onWatchEvent(e)),
    ];
    await Promise.all(this.watches.map((w) => w.synced));
    this.synced = true;
    await this.reconcileAll();
    this.scheduleResync();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.resyncTimer !== null) this.timers.clearTimeout(this.resyncTimer);
    this.resyncTimer = null;
    for (const handle of this.transitionTimers.values()) this.timers.clearTimeout(handle);
    this.transitionTimers.clear();
    await Promise.all(this.watches.map((w) => w.stop()));
    this.watches = [];
    this.queue.clear();
    await this.draining;
  }

  /** Waits until queued work (from watches and timers) is done; for tests and the CLI. */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  // --- scheduling -------------------------------------------------------------------------------

  private scheduleResync(): void {
    if (!this.running) return;
    this.resyncTimer = this.timers.setTimeout(() => {
      void this.reconcileAll().finally(() => this.scheduleResync());
    }, this.config.resyncMs);
  }

  private onWatchEvent(event: WatchEvent): void {
    if (event.resource === "controlPlanes") {
      const release = event.labels.release;
      if (release) {
        if (event.type === "deleted") this.releasesByNamespace.get(event.namespace)?.delete(release);
        else this.rememberRelease(event.namespace, release);
        this.enqueue({ kind: "vcluster", namespace: event.namespace, name: release });
      }
      return;
    }
    const namespace = event.resource === "namespaces" ? event.name : event.namespace;
    // Namespace annotations also configure the vclusters it hosts (managed or not yet: an opt-in on the
    // Namespace makes one a target); a new namespace may be a new target.
    for (const view of this.targetViews.values()) {
      if (view.namespace === namespace) this.enqueue(view);
    }
    for (const release of this.releasesByNamespace.get(namespace) ?? []) {
      this.enqueue({ kind: "vcluster", namespace, name: release });
    }
    if (
      !this.targetViews.has(targetKey({ kind: "namespace", namespace, name: namespace })) &&
      event.resource === "namespaces"
    ) {
      this.enqueue({ kind: "namespace", namespace, name: namespace });
    }
  }

  private enqueue(ref: TargetRef): void {
    if (!this.running) return;
    this.queue.add(targetKey(ref));
    if (!this.draining) this.draining = this.drain().finally(() => (this.draining = null));
  }

  private async drain(): Promise<void> {
    while (this.queue.size > 0 && this.running) {
      const [key] = this.queue;
      if (key === undefined) break;
      this.queue.delete(key);
      const [kind, namespace, name] = key.split("/");
      await this.reconcileTarget({
        kind: kind as TargetRef["kind"],
        namespace: namespace ?? "",
        name: name ?? "",
      });
    }
  }

  private armTimer(view: TargetView): void {
    const key = targetKey(view);
    const previous = this.transitionTimers.get(key);
    if (previous !== undefined) this.timers.clearTimeout(previous);
    this.transitionTimers.delete(key);
    if (!this.running || !view.next) return;
    const delay = Math.min(Math.max(0, view.next.at - this.clock.now()), MAX_TIMER_MS);
    this.transitionTimers.set(
      key,
      this.timers.setTimeout(() => {
        this.transitionTimers.delete(key);
        this.enqueue(view);
      }, delay),
    );
  }

  private forget(key: string): void {
    if (!this.targetViews.has(key)) return;
    const view = this.targetViews.get(key);
    this.targetViews.delete(key);
    const timer = this.transitionTimers.get(key);
    if (timer !== undefined) this.timers.clearTimeout(timer);
    this.transitionTimers.delete(key);
    this.pendingWakes.delete(key);
    this.pendingActivity.delete(key);
    this.reportedErrors.delete(key);
    this.activity.forget(key);
    if (view?.kind === "vcluster") this.routes.remove(view.namespace, view.name);
    if (view) this.observer.targetRemoved({ kind: view.kind, namespace: view.namespace, name: view.name });
  }

  private rememberRelease(namespace: string, release: string): void {
    const releases = this.releasesByNamespace.get(namespace) ?? new Set<string>();
    releases.add(release);
    this.releasesByNamespace.set(namespace, releases);
  }

  private namespaceExcluded(name: string): boolean {
    return this.config.excludeNamespaces.some((re) => re.test(name));
  }

  // --- one target ---------------------------------------------------------------------------------

  private reconcileVcluster(
    plane: ControlPlane,
    namespace: NamespaceObject,
    allNamespaces?: readonly NamespaceObject[],
  ): Promise<void> {
    const ref: TargetRef = { kind: "vcluster", namespace: plane.meta.namespace, name: plane.release };
    return this.stepUntilDone(
      ref,
      plane,
      async (current, now) => {
        let evaluated = (await evaluateVcluster(
          this.kube,
          this.config,
          current,
          namespace,
          now,
          allNamespaces,
        )) as Extract<Evaluated, { kind: "vcluster" }>;
        if (this.namespaceExcluded(ref.namespace))
          evaluated = unmanagedBecause(
            evaluated,
            `host namespace ${ref.namespace} matches excludeNamespaces`,
          );
        const step = this.nextVclusterStep(evaluated, now);
        return step === "done" ? "done" : { evaluated, step };
      },
      () => this.kube.getControlPlane(ref.namespace, ref.name),
    );
  }

  private reconcileNamespace(namespace: NamespaceObject): Promise<void> {
    const name = namespace.meta.name;
    const ref: TargetRef = { kind: "namespace", namespace: name, name };
    // Workloads whose write failed this pass: skipped so the others still sleep or wake, then reported.
    const failed = new Map<string, string>();
    return this.stepUntilDone(
      ref,
      namespace,
      async (current, now) => {
        const evaluated = (await evaluateNamespace(this.kube, this.config, current, now)) as Extract<
          Evaluated,
          { kind: "namespace" }
        >;
        // A namespace hosting a vcluster belongs to that vcluster, an excluded one to nobody: either way it is
        // no namespace target, but one Slumber left asleep is woken first (never stranded at zero).
        const leaving = hostsControlPlane(evaluated.workloads)
          ? `namespace ${name} now hosts a virtual cluster`
          : this.namespaceExcluded(name)
            ? `namespace ${name} matches excludeNamespaces`
            : null;
        if (leaving) {
          const step = evaluated.asleep
            ? planNamespaceWake(current, evaluated.workloads, now, new Set(failed.keys()), true)
            : null;
          if (step) return { evaluated: unmanagedBecause(evaluated, `${leaving}; woken first`), step };
          // Still asleep (a restore failed this pass): kept, and tried again next pass.
          if (isNamespaceAsleep(current)) {
            this.publish(
              unmanagedBecause(evaluated, `${leaving}; woken first`),
              now,
              [],
              [...failed.values()],
            );
            return "done";
          }
          this.forget(targetKey(ref));
          return "done";
        }
        // One nobody opted in is no target.
        const noTarget = !evaluated.policy.managed && evaluated.errors.length === 0 && !evaluated.asleep;
        if (noTarget) {
          // A workload Slumber left at zero (its restore failed before the opt-out) is still restored.
          const step = planNamespaceWake(current, evaluated.workloads, now, new Set(failed.keys()));
          if (step)
            return { evaluated: unmanagedBecause(evaluated, "opted out; restoring a workload"), step };
          this.forget(targetKey(ref));
          return "done";
        }
        const step = this.nextNamespaceStep(evaluated, now, failed);
        return step === "done" ? "done" : { evaluated, step };
      },
      () => this.kube.getNamespace(name),
      (e, step, err) => this.workloadStepFailed(e, step, err, failed),
    );
  }

  /** Performs a target's missing steps one at a time, re-reading it after each; a 409 re-reads and retries. */
  private async stepUntilDone<T>(
    ref: TargetRef,
    first: T,
    plan: (current: T, now: number) => Promise<{ evaluated: Evaluated; step: Step } | "done">,
    reread: () => Promise<T | null>,
    /** Handles a failed step that must not stop the pass (true: skip it and go on). */
    onFailure?: (e: Evaluated, step: Step, err: unknown) => boolean,
  ): Promise<void> {
    let conflicts = 0;
    let current = first;
    // Every attempt counts, failed ones too: a step that keeps failing must not loop without end.
    for (let steps = 0; steps < MAX_STEPS_PER_PASS; steps++) {
      const planned = await plan(current, this.clock.now());
      if (planned === "done") return;
      try {
        if (!(await this.perform(planned.evaluated, planned.step))) return;
      } catch (err) {
        if (err instanceof KubeError && err.code === 409 && ++conflicts <= MAX_CONFLICT_RETRIES) {
          this.logger.info(
            { target: targetKey(ref), object: err.object },
            "conflict; re-reading and retrying",
          );
        } else if (!onFailure?.(planned.evaluated, planned.step, err)) {
          throw err;
        }
      }
      const fresh = await reread();
      if (!fresh) return this.forget(targetKey(ref));
      current = fresh;
    }
  }

  /** Decides the next write for a vcluster, publishing the view when there is none. */
  private nextVclusterStep(e: Extract<Evaluated, { kind: "vcluster" }>, now: number): Step | "done" {
    if (this.blockedByErrors(e, now)) return "done";
    if (!e.policy.managed) {
      // Opted out (or its namespace excluded) while asleep by Slumber: wake it rather than strand it paused.
      // A foreign pause stays. Already resumed outside Slumber (`vcluster resume`): close our sleep record, or
      // its sleeping-since stays forever and the savings of a running cluster keep growing.
      const ours = e.annotations[Annotations.sleepingSince] !== undefined;
      const step = ours
        ? (planVclusterWake(e.plane, e.parts, now) ?? planVclusterAdoption(e.plane, now, e.hourlyCost))
        : null;
      if (step) return step;
      // Ours but held by a restore: still ours to wake later. Anything else is no target: no view, no series.
      if (ours && e.asleep) return this.publish(e, now);
      this.forget(targetKey(e.ref));
      return "done";
    }
    const adoption = planVclusterAdoption(e.plane, now, e.hourlyCost);
    if (adoption) return adoption;
    if (e.noRecordedUse) return this.lastWakeStep(e, now);
    const activity = this.proxyActivityStep(e) ?? this.observeSyncedPods(e, now);
    if (activity) return activity;
    if (e.decision.state === "asleep") {
      if (!e.persistence.persistent && !e.asleep) {
        const error: PolicyError = {
          key: Annotations.persistent,
          value: e.plane.meta.annotations[Annotations.persistent] ?? "",
          message: `not put to sleep: ${e.persistence.why}`,
        };
        this.reportErrors(e, [error], "NotPersistent");
        return this.publish(e, now, [error]);
      }
      if (!e.asleep && e.plane.replicas === 0) {
        // Stopped by someone else and never paused: planVclusterSleep leaves it alone (a pause would record no
        // count and the wake would start it at 1). Said like NotPersistent, so `slumber sleep` and status tell why.
        const error: PolicyError = {
          key: "spec.replicas",
          value: "0",
          message: "not put to sleep: the control plane was scaled to 0 outside Slumber and is left at 0",
        };
        this.reportErrors(e, [error], "StoppedExternally");
        return this.publish(e, now, [error]);
      }
      const step = planVclusterSleep(e.plane, e.parts, now, sleepReasonOf(e), e.hourlyCost);
      return step ?? this.publish(e, now);
    }
    if (e.decision.state === "awake") {
      const step = planVclusterWake(e.plane, e.parts, now);
      if (step) return step;
    }
    return this.publish(e, now);
  }

  private nextNamespaceStep(
    e: Extract<Evaluated, { kind: "namespace" }>,
    now: number,
    failed: ReadonlyMap<string, string>,
  ): Step | "done" {
    if (this.blockedByErrors(e, now)) return "done";
    const skip = new Set(failed.keys());
    const done = () => this.publish(e, now, [], [...failed.values()]);
    if (!e.policy.managed) {
      // Opted out while asleep: wake it rather than strand its workloads at zero.
      const step = planNamespaceWake(e.namespace, e.workloads, now, skip, true);
      return step ?? done();
    }
    if (e.noRecordedUse) return this.lastWakeStep(e, now);
    const activity = this.observeWorkloadChanges(e, now);
    if (activity) return activity;
    if (e.decision.state === "asleep") {
      const step = planNamespaceSleep(e.namespace, e.workloads, now, sleepReasonOf(e), e.hourlyCost, skip);
      return step ?? done();
    }
    if (e.decision.state === "awake") {
      const step = planNamespaceWake(e.namespace, e.workloads, now, skip);
      if (step) return step;
    }
    return done();
  }

  /**
   * One workload's write failed (an admission policy, a 5xx, a deleted object, repeated conflicts): report
   * it (log, `slumber_api_errors_total`, one Event per distinct error, the target's REASON) and let the pass
   * go on with the others. It is tried again on the next pass, once.
   */
  private workloadStepFailed(e: Evaluated, step: Step, err: unknown, failed: Map<string, string>): boolean {
    if (!(err instanceof KubeError) || step.action !== "patch" || step.ref.kind === "Namespace") return false;
    const what = step.purpose === "restore" ? "wake" : "sleep";
    const message = `${describeRef(step.ref)}: ${what} failed (retried next pass): ${
      err.code === undefined ? "" : `HTTP ${err.code} `
    }${err.message}`;
    failed.set(`${step.ref.kind}/${step.ref.name}`, message);
    this.observer.apiError(err.operation, err.code);
    const errorKey = `${targetKey(e.ref)}#workload:${step.ref.kind}/${step.ref.name}`;
    const signature = `${what}:${err.code}:${err.message}`;
    if (this.reportedErrors.get(errorKey) !== signature) {
      this.reportedErrors.set(errorKey, signature);
      this.logger.warn(
        { target: targetKey(e.ref), object: err.object, code: err.code, step: step.purpose },
        message,
      );
      void this.event(e, {
        reason: what === "wake" ? "WakeFailed" : "SleepFailed",
        action: what === "wake" ? "Wake" : "Sleep",
        type: "Warning",
        note: message,
        regarding: step.ref,
      });
    }
    return true;
  }

  /** SPEC §3: a target that has just become managed and has no recorded use gets last-wake = now. */
  private lastWakeStep(e: Evaluated, now: number): Step {
    const ref = e.kind === "vcluster" ? controlPlaneRef(e.plane) : namespaceRef(e.namespace.meta.name);
    return {
      action: "patch",
      purpose: "activity",
      ref,
      patch: { annotations: { [Annotations.lastWake]: formatTimestamp(now) } },
      note: `${targetKey(e.ref)} newly managed with no recorded use; last-wake set to now`,
    };
  }

  /**
   * Activity the wake proxy reported: `last-activity` only moves forward, at most once a minute, except
   * that a request for a target the policy has asleep is always written (it is what wakes it).
   */
  private proxyActivityStep(e: Extract<Evaluated, { kind: "vcluster" }>): Step | null {
    const key = targetKey(e.ref);
    const pending = this.pendingActivity.get(key);
    if (!pending) return null;
    const at = Math.floor(pending.at / 1000) * 1000;
    const recorded = e.recorded.lastActivity;
    const fresh = recorded !== undefined && at - recorded < ACTIVITY_WRITE_INTERVAL_MS;
    if ((recorded !== undefined && at <= recorded) || (fresh && e.decision.state !== "asleep")) {
      this.pendingActivity.delete(key);
      return null;
    }
    return {
      action: "patch",
      purpose: "activity",
      ref: controlPlaneRef(e.plane),
      patch: {
        annotations: {
          [Annotations.lastActivity]: formatTimestamp(at),
          [Annotations.lastActivitySource]: pending.source,
        },
      },
      note: `${key}: ${pending.source === "session" ? "an exec/attach/port-forward session" : "a request"} through the wake proxy; recorded as activity`,
    };
  }

  /**
   * A change to a namespace's workloads that Slumber did not make is use (a deploy). Only while awake:
   * a scale-up while asleep is a revert to undo, not a reason to wake.
   */
  private observeWorkloadChanges(e: Extract<Evaluated, { kind: "namespace" }>, now: number): Step | null {
    const key = targetKey(e.ref);
    const changed = this.activity.observe(key, workloadFingerprints(e.workloads), !e.asleep);
    if (changed.length === 0) return null;
    const step = planActivityRecord(e.namespace, now, changed.join(", "));
    if (!step) this.activity.commit(key); // recorded less than a minute ago: nothing to write
    return step;
  }

  /** A virtual cluster's synced pods appearing or going away outside Slumber's own sleep and wake are use. */
  private observeSyncedPods(e: Extract<Evaluated, { kind: "vcluster" }>, now: number): Step | null {
    const key = targetKey(e.ref);
    const { counting, transition } = syncedPodCounting(
      e.plane,
      parseTimestamp(e.annotations[Annotations.lastWake]),
      this.pendingWakes.has(key),
      now,
    );
    const pods = new Map(e.activityPodUids.map((uid) => [uid, ""]));
    const changed = this.activity.observe(key, pods, counting, now, transition ? WAKE_SETTLE_MS : 0);
    if (changed.length === 0) return null;
    const step = planLastActivity(
      controlPlaneRef(e.plane),
      e.plane.meta,
      now,
      `${changed.length} synced pod(s) of vcluster ${e.ref.name}`,
    );
    if (!step) this.activity.commit(key);
    return step;
  }

  /** Applies one step (or, in dry-run, logs it and stops); emits the Events and transitions it means. */
  private async perform(e: Evaluated, step: Step): Promise<boolean> {
    const key = targetKey(e.ref);
    const log = this.logger.child({ target: key });
    if (this.config.dryRun) {
      log.info({ step: step.purpose, dryRun: true }, `would ${step.note}`);
      this.publish(e, this.clock.now());
      return false;
    }
    await applyStep(this.kube, step);
    log.info({ step: step.purpose }, step.note);
    if (step.purpose === "activity") this.activity.commit(key);
    if (step.action === "patch" && step.ref.kind !== "Namespace")
      this.reportedErrors.delete(`${key}#workload:${step.ref.kind}/${step.ref.name}`);
    const regarding =
      step.action === "patch"
        ? step.ref
        : e.kind === "vcluster"
          ? controlPlaneRef(e.plane)
          : namespaceRef(e.ref.name);
    const special = EVENT_FOR[step.purpose];
    if (special) await this.event(e, { ...special, note: step.note, regarding });
    if (step.purpose === "record") {
      const reason = sleepReasonOf(e);
      this.observer.transition(e.ref, "asleep", reason);
      this.pendingWakes.delete(key);
      await this.event(e, {
        reason: "Sleeping",
        action: "Sleep",
        type: "Normal",
        note: `going to sleep: ${e.decision.reason}`,
        regarding: recordRef(e),
      });
    }
    if (step.purpose === "wake") {
      // A bounded label: the decision's text names times and would make one series per wake.
      this.observer.transition(
        e.ref,
        "awake",
        e.decision.state === "awake" ? e.decision.wakeReason : "unmanaged",
      );
      this.pendingWakes.set(key, this.clock.now());
      this.observer.wakeStarted?.(e.ref);
      await this.event(e, {
        reason: "Woken",
        action: "Wake",
        type: "Normal",
        note: `woken: ${e.decision.reason}`,
        regarding: recordRef(e),
      });
    }
    if (step.purpose === "adoptResume") this.observer.transition(e.ref, "awake", "manual");
    if (step.purpose === "adoptPause") this.observer.transition(e.ref, "asleep", "manual");
    return true;
  }

  private async event(
    e: Evaluated,
    spec: { reason: string; action: string; type: "Normal" | "Warning"; note: string; regarding: ObjectRef },
  ): Promise<void> {
    if (this.config.dryRun) return;
    try {
      await this.kube.recordEvent({ ...spec, regarding: spec.regarding });
    } catch (err) {
      // An Event that cannot be written must not stop the sleep or wake it describes.
      this.reportApiError(err, `event about ${targetKey(e.ref)}`);
    }
  }

  /** Malformed policy or state: leave the target exactly as it is, report once per distinct error. */
  private blockedByErrors(e: Evaluated, now: number): boolean {
    if (e.errors.length === 0) {
      this.reportedErrors.delete(`${targetKey(e.ref)}#PolicyError`);
      return false;
    }
    this.reportErrors(e, e.errors, "PolicyError");
    this.publish(e, now);
    return true;
  }

  private reportErrors(e: Evaluated, errors: PolicyError[], reason: string): void {
    const key = `${targetKey(e.ref)}#${reason}`;
    const signature = JSON.stringify(errors.map((err) => [err.key, err.value, err.message]));
    // Once per distinct error, like the Event: the gauge carries it on every pass, the log need not.
    if (this.reportedErrors.get(key) === signature) return;
    this.reportedErrors.set(key, signature);
    const log = this.logger.child({ target: targetKey(e.ref) });
    for (const err of errors) log.warn({ annotation: err.key, value: err.value, reason }, err.message);
    void this.event(e, {
      reason,
      action: "Evaluate",
      type: "Warning",
      note: errors.map((err) => `${err.key}="${err.value}": ${err.message}`).join("; "),
      regarding: recordRef(e),
    });
  }

  /** Records the view, reports it, completes a pending wake, arms the transition timer. */
  private publish(
    e: Evaluated,
    now: number,
    extraErrors: PolicyError[] = [],
    workloadFailures: readonly string[] = [],
  ): "done" {
    const costLabelKeys = this.config.costLabels?.map((label) => label.key);
    const view = viewOf(e, now, this.config.prices.currency, extraErrors, costLabelKeys);
    if (workloadFailures.length > 0) view.reason = `${view.reason}; ${workloadFailures.join("; ")}`;
    const key = targetKey(e.ref);
    this.targetViews.set(key, view);
    if (e.kind === "vcluster") {
      if (e.policy.managed) this.routes.publish(routeOf(e.plane, e.policy.ignoreUserAgents));
      else this.routes.remove(e.ref.namespace, e.ref.name);
    }
    this.observer.targetObserved(view, now);
    const wokeAt = this.pendingWakes.get(key);
    if (wokeAt !== undefined && view.state === "awake" && isReady(e)) {
      this.pendingWakes.delete(key);
      this.observer.wakeCompleted(e.ref.kind, (now - wokeAt) / 1000, e.ref);
    }
    this.armTimer(view);
    return "done";
  }

  private async guard(run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (err) {
      this.reportApiError(err, "reconcile");
    }
  }

  private reportApiError(err: unknown, context: string): void {
    if (err instanceof KubeError) {
      this.observer.apiError(err.operation, err.code);
      this.logger.warn(
        { operation: err.operation, object: err.object, code: err.code, context },
        `API call failed; retrying next pass: ${err.message}`,
      );
      return;
    }
    this.observer.apiError(context, undefined);
    this.logger.error({ err, context }, "unexpected error; retrying next pass");
  }
}

/** Slumber's own sleep record is on the object (control plane or Namespace). */
const sleptBySlumber = (meta: { annotations: Readonly<Record<string, string>> }): boolean =>
  meta.annotations[Annotations.sleepingSince] !== undefined;

function sleepReasonOf(e: Evaluated): SleepReason {
  return e.decision.state === "asleep" ? e.decision.sleepReason : "inactivity";
}

const recordRef = (e: Evaluated) =>
  e.kind === "vcluster" ? controlPlaneRef(e.plane) : namespaceRef(e.namespace.meta.name);

/** A woken target is ready when its control plane (or every workload it runs) has a ready replica. */
function isReady(e: Evaluated): boolean {
  if (e.kind === "vcluster") return !isPaused(e.plane) && e.plane.readyReplicas >= 1;
  if (isNamespaceAsleep(e.namespace)) return false;
  return e.workloads.every((w) => w.replicas === null || w.replicas === 0 || (w.readyReplicas ?? 0) >= 1);
}

async function runPool<T>(
  items: readonly T[],
  concurrency: number,
  run: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await run(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
