// Level-triggered reconciler: every pass reads each target, asks the rules what it should do next, and
// performs the missing writes. Informers, a de-duplicating queue, a periodic resync and one timer per target
// (at the decision's next transition) only decide *when* a pass runs.
//
//   queue.ts    when passes run, and one at a time per target
//   timers.ts   transition timers and the resync
//   evaluate.ts read a target and run the policy on it
//   rules.ts    pick the next writes (pure)
//   effects.ts  perform a write: Events, metrics, logs
//   memory.ts   what is remembered per target between passes
import type { Clock } from "../clock.js";
import type { AgentConfig } from "../config/types.js";
import {
  type ControlPlane,
  type KubeClient,
  KubeError,
  type NamespaceObject,
  type WatchEvent,
  type WatchHandle,
} from "../kube/types.js";
import type { Logger } from "../log.js";
import { Annotations } from "../policy/annotations.js";
import type { PolicyError } from "../policy/types.js";
import { runPool } from "../pool.js";
import type { ActivitySource, ClusterRef, WakePort } from "../proxy/port.js";
import { planLastActivity } from "../targets/activity.js";
import { formatTimestamp, parseTimestamp } from "../targets/bookkeeping.js";
import { ACTIVITY_WRITE_INTERVAL_MS, isNamespaceAsleep, planActivityRecord } from "../targets/namespace.js";
import type { Step } from "../targets/steps.js";
import { type TargetRef, type TargetView, targetKey } from "../targets/types.js";
import { controlPlaneRef, isPaused } from "../targets/vcluster.js";
import { syncedPodCounting, WAKE_SETTLE_MS, workloadFingerprints } from "./activity.js";
import { StepEffects } from "./effects.js";
import { type Evaluated, evaluateNamespace, evaluateVcluster, unmanagedBecause, viewOf } from "./evaluate.js";
import { TargetMemory } from "./memory.js";
import type { ReconcileObserver } from "./observer.js";
import { TargetLocks, WorkQueue } from "./queue.js";
import { RouteTable, routeOf } from "./routes.js";
import { type Next, nextStep, type Signals } from "./rules.js";
import { Resync, systemTimers, type Timers, TransitionTimers } from "./timers.js";

export { systemTimers, type Timers } from "./timers.js";

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
/**
 * Bounds the rounds of one pass (plan, write, re-read): a vcluster sleep takes about 5, a namespace sleep 3
 * (its record, a wave of every workload, the ScaledObjects). Failed writes count too, so a write that keeps
 * failing cannot loop without end.
 */
const MAX_ROUNDS_PER_PASS = 100;
/** Targets reconciled concurrently, in a full pass and from the queue. */
const PASS_CONCURRENCY = 16;
/** Writes of one namespace's wave in flight at once (each guarded by its workload's resourceVersion). */
const WAVE_CONCURRENCY = 8;

export class Reconciler implements WakePort {
  /** Managed virtual clusters as the wake proxy routes to them, updated by every pass. */
  readonly routes = new RouteTable();
  private readonly kube: KubeClient;
  private readonly config: AgentConfig;
  private readonly clock: Clock;
  private readonly observer: ReconcileObserver;
  private readonly memory = new TargetMemory();
  private readonly effects: StepEffects;
  private readonly locks = new TargetLocks();
  private readonly queue = new WorkQueue((ref) => this.reconcileTarget(ref), PASS_CONCURRENCY);
  private readonly timers: TransitionTimers;
  private readonly resync: Resync;
  /** Virtual clusters by host namespace, managed or not: a Namespace change may make one a target. */
  private readonly releasesByNamespace = new Map<string, Set<string>>();
  private readonly logger: Logger;
  private watches: WatchHandle[] = [];
  private running = false;
  private synced = false;
  private firstPassDone = false;

  constructor(deps: ReconcilerDeps) {
    this.kube = deps.kube;
    this.config = deps.config;
    this.clock = deps.clock;
    this.observer = deps.observer;
    this.logger = deps.logger;
    const timers = deps.timers ?? systemTimers;
    this.timers = new TransitionTimers(timers);
    this.resync = new Resync(timers, deps.config.resyncMs, () => this.reconcileAll());
    this.effects = new StepEffects({
      kube: deps.kube,
      clock: deps.clock,
      observer: deps.observer,
      logger: deps.logger,
      memory: this.memory,
      dryRun: deps.config.dryRun,
    });
  }

  /**
   * WakePort: a held request wants this cluster awake; recorded as activity, which the policy wakes for.
   * A pass of its own right away, not behind the queue: someone is waiting.
   */
  requestWake(ref: ClusterRef, at: number, source: ActivitySource): void {
    const target: TargetRef = { kind: "vcluster", namespace: ref.namespace, name: ref.name };
    this.memory.noteActivity(targetKey(target), at, source);
    if (this.running) void this.reconcileTarget(target);
  }

  /** WakePort: a forwarded request; written as `last-activity` by the next pass, at most once a minute. */
  recordActivity(ref: ClusterRef, at: number, source: ActivitySource): void {
    const target: TargetRef = { kind: "vcluster", namespace: ref.namespace, name: ref.name };
    this.memory.noteActivity(targetKey(target), at, source);
    this.queue.add(target);
  }

  views(): TargetView[] {
    return [...this.memory.views.values()];
  }

  isReady(): boolean {
    return this.synced && this.firstPassDone;
  }

  /** Entries in every per-target structure: tests check they return to baseline when targets go. */
  memorySizes(): Record<string, number> {
    let releases = 0;
    for (const set of this.releasesByNamespace.values()) releases += set.size;
    return {
      ...this.memory.sizes(),
      timers: this.timers.size,
      locks: this.locks.size,
      queued: this.queue.size,
      releaseNamespaces: this.releasesByNamespace.size,
      releases,
      routes: this.routes.size(),
    };
  }

  // --- lifecycle ----------------------------------------------------------------------------------

  /** Informers, queue, resync and timers. Resolves once the informers have synced and the first pass is done. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.queue.start();
    this.watches = [
      this.kube.watch("controlPlanes", (e) => this.onWatchEvent(e)),
      this.kube.watch("namespaces", (e) => this.onWatchEvent(e)),
      this.kube.watch("workloads", (e) => this.onWatchEvent(e)),
    ];
    await Promise.all(this.watches.map((w) => w.synced));
    this.synced = true;
    await this.reconcileAll();
    this.resync.start();
  }

  async stop(): Promise<void> {
    this.running = false;
    // Closed first, synchronously: activity or a watch event arriving while the watches stop starts no pass.
    const queueStopped = this.queue.stop();
    this.resync.stop();
    this.timers.clearAll();
    await Promise.all(this.watches.map((w) => w.stop()));
    this.watches = [];
    await queueStopped;
  }

  /** Waits until queued work (from watches and timers) is done; for tests and the CLI. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  // --- which targets, and when --------------------------------------------------------------------

  /** One pass over every target; one failing target never stops the others. */
  async reconcileAll(): Promise<void> {
    const started = this.clock.now();
    let planes: ControlPlane[];
    let namespaces: NamespaceObject[];
    try {
      [planes, namespaces] = await Promise.all([this.kube.listControlPlanes(), this.kube.listNamespaces()]);
    } catch (err) {
      this.effects.reportApiError(err, "list targets");
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
          this.locks.exclusive(ref, (waited) =>
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
          this.locks.exclusive(ref, (waited) =>
            waited ? this.reconcileFresh(ref) : this.reconcileNamespace(namespace),
          ),
      });
    }
    await runPool(jobs, PASS_CONCURRENCY, (job) => this.guard(job.run));
    const current = new Set(jobs.map((job) => job.key));
    for (const key of [...this.memory.views.keys()]) {
      if (!current.has(key)) this.forget(key);
    }
    this.firstPassDone = true;
    this.routes.setComplete();
    this.observer.loopCompleted((this.clock.now() - started) / 1000);
  }

  /** One target, read fresh. */
  async reconcileTarget(ref: TargetRef): Promise<TargetView | null> {
    await this.guard(() => this.locks.exclusive(ref, () => this.reconcileFresh(ref)));
    return this.memory.views.get(targetKey(ref)) ?? null;
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

  private onWatchEvent(event: WatchEvent): void {
    if (event.resource === "controlPlanes") {
      const release = event.labels.release;
      if (release) {
        if (event.type === "deleted") this.forgetRelease(event.namespace, release);
        else this.rememberRelease(event.namespace, release);
        this.queue.add({ kind: "vcluster", namespace: event.namespace, name: release });
      }
      return;
    }
    const namespace = event.resource === "namespaces" ? event.name : event.namespace;
    // Namespace annotations also configure the vclusters it hosts (managed or not yet: an opt-in on the
    // Namespace makes one a target); a new namespace may be a new target.
    for (const view of this.memory.views.values()) {
      if (view.namespace === namespace) this.queue.add(view);
    }
    for (const release of this.releasesByNamespace.get(namespace) ?? []) {
      this.queue.add({ kind: "vcluster", namespace, name: release });
    }
    if (
      !this.memory.views.has(targetKey({ kind: "namespace", namespace, name: namespace })) &&
      event.resource === "namespaces"
    ) {
      this.queue.add({ kind: "namespace", namespace, name: namespace });
    }
  }

  private forget(key: string): void {
    const view = this.memory.views.get(key);
    this.timers.clear(key);
    this.memory.forget(key);
    if (!view) return;
    if (view.kind === "vcluster") this.routes.remove(view.namespace, view.name);
    this.observer.targetRemoved({ kind: view.kind, namespace: view.namespace, name: view.name });
  }

  private rememberRelease(namespace: string, release: string): void {
    const releases = this.releasesByNamespace.get(namespace) ?? new Set<string>();
    releases.add(release);
    this.releasesByNamespace.set(namespace, releases);
  }

  private forgetRelease(namespace: string, release: string): void {
    const releases = this.releasesByNamespace.get(namespace);
    releases?.delete(release);
    if (releases?.size === 0) this.releasesByNamespace.delete(namespace);
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
    const ns = plane.meta.namespace;
    const release = plane.release;
    return this.untilSettled(
      { kind: "vcluster", namespace: ns, name: release },
      plane,
      async (current, now) => {
        let evaluated = await evaluateVcluster(
          this.kube,
          this.config,
          current,
          namespace,
          now,
          allNamespaces,
        );
        const excluded = this.namespaceExcluded(ns);
        if (excluded)
          evaluated = unmanagedBecause(evaluated, `host namespace ${ns} matches excludeNamespaces`);
        return nextStep(evaluated, now, this.signals(evaluated, now, excluded, new Set()));
      },
      () => this.kube.getControlPlane(ns, release),
    );
  }

  private reconcileNamespace(namespace: NamespaceObject): Promise<void> {
    const name = namespace.meta.name;
    return this.untilSettled(
      { kind: "namespace", namespace: name, name },
      namespace,
      async (current, now, failed) => {
        const evaluated = await evaluateNamespace(this.kube, this.config, current, now);
        return nextStep(evaluated, now, this.signals(evaluated, now, this.namespaceExcluded(name), failed));
      },
      () => this.kube.getNamespace(name),
    );
  }

  /**
   * Asks the rules for the next writes, performs them (a wave in bounded parallel), re-reads the target and
   * asks again, until it is settled. A 409 re-reads and retries; a workload write that fails otherwise is
   * reported and skipped for the rest of the pass, so the others still sleep or wake.
   */
  private async untilSettled<T>(
    ref: TargetRef,
    first: T,
    plan: (current: T, now: number, failed: ReadonlySet<string>) => Promise<Next>,
    reread: () => Promise<T | null>,
  ): Promise<void> {
    const key = targetKey(ref);
    /** Workloads (`Kind/name`) whose write failed this pass, with the REASON text for each. */
    const failed = new Map<string, string>();
    let conflicts = 0;
    let current = first;
    for (let round = 0; ; round++) {
      const now = this.clock.now();
      const next = await plan(current, now, new Set(failed.keys()));
      if (next.kind === "gone") return this.forget(key);
      if (next.evaluated.errors.length === 0) this.memory.clearReport(key, "PolicyError");
      // A reason that no longer holds is reported again (with its Event) if it comes back.
      for (const reason of ["NotPersistent", "StoppedExternally"])
        if (next.kind !== "settled" || next.report?.reason !== reason) this.memory.clearReport(key, reason);
      if (next.kind === "settled") {
        if (next.report) this.effects.reportErrors(next.evaluated, next.report.errors, next.report.reason);
        this.publish(next.evaluated, now, next.extraErrors, [...failed.values()]);
        return;
      }
      if (round >= MAX_ROUNDS_PER_PASS) {
        // Published as it stands (its REASON says what is left); the next pass goes on from there.
        this.logger.warn({ target: key, rounds: round }, "pass ended with writes left; continuing next pass");
        this.publish(next.evaluated, now, [], [...failed.values()]);
        return;
      }
      const outcomes = await this.performWave(next.evaluated, next.steps);
      if (outcomes.dryRun) {
        this.publish(next.evaluated, this.clock.now());
        return;
      }
      let fatal: unknown = null;
      for (const { step, err } of outcomes.failures) {
        if (err instanceof KubeError && err.code === 409 && conflicts < MAX_CONFLICT_RETRIES) {
          this.logger.info({ target: key, object: err.object }, "conflict; re-reading and retrying");
          continue;
        }
        // A virtual cluster's steps depend on each other (record, pause, delete pods): any failure ends the pass.
        const reason =
          ref.kind === "namespace" ? this.effects.workloadStepFailed(next.evaluated, step, err) : null;
        if (reason !== null && step.action === "patch")
          failed.set(`${step.ref.kind}/${step.ref.name}`, reason);
        else fatal ??= err;
      }
      if (outcomes.failures.some(({ err }) => err instanceof KubeError && err.code === 409)) conflicts++;
      if (fatal !== null) throw fatal;
      const fresh = await reread();
      if (!fresh) return this.forget(key);
      current = fresh;
    }
  }

  /** Performs a wave's writes, at most WAVE_CONCURRENCY at once; every write is tried, failures collected. */
  private async performWave(
    e: Evaluated,
    steps: readonly Step[],
  ): Promise<{ dryRun: boolean; failures: { step: Step; err: unknown }[] }> {
    const failures: { step: Step; err: unknown }[] = [];
    let dryRun = false;
    await runPool(steps, WAVE_CONCURRENCY, async (step) => {
      try {
        if (!(await this.effects.perform(e, step))) dryRun = true;
      } catch (err) {
        failures.push({ step, err });
      }
    });
    return { dryRun, failures };
  }

  /** What the agent noticed about a target beyond its objects, for the rules. */
  private signals(e: Evaluated, now: number, excluded: boolean, failed: ReadonlySet<string>): Signals {
    const key = targetKey(e.ref);
    if (e.kind === "namespace") {
      // A change to a namespace's workloads that Slumber did not make is use (a deploy). Only while awake:
      // a scale-up while asleep is a revert to undo, not a reason to wake.
      const changed = this.memory.activity.observe(key, workloadFingerprints(e.workloads), !e.asleep);
      return {
        proxyActivity: null,
        observedActivity: this.observedUse(key, changed, () =>
          planActivityRecord(e.namespace, now, changed.join(", ")),
        ),
        failed,
        excluded,
      };
    }
    const proxyActivity = this.proxyActivity(e);
    if (proxyActivity) return { proxyActivity, observedActivity: null, failed, excluded };
    // A virtual cluster's synced pods appearing or going away outside Slumber's own sleep and wake are use.
    const { counting, transition } = syncedPodCounting(
      e.plane,
      parseTimestamp(e.annotations[Annotations.lastWake]),
      this.memory.pendingWakes.has(key),
      now,
    );
    const pods = new Map(e.activityPodUids.map((uid) => [uid, ""]));
    const changed = this.memory.activity.observe(key, pods, counting, now, transition ? WAKE_SETTLE_MS : 0);
    const observedActivity = this.observedUse(key, changed, () =>
      planLastActivity(
        controlPlaneRef(e.plane),
        e.plane.meta,
        now,
        `${changed.length} synced pod(s) of vcluster ${e.ref.name}`,
      ),
    );
    return { proxyActivity: null, observedActivity, failed, excluded };
  }

  /** The activity write for observed changes; none needed (recorded under a minute ago) adopts them at once. */
  private observedUse(key: string, changed: readonly string[], plan: () => Step | null): Step | null {
    if (changed.length === 0) return null;
    const step = plan();
    if (!step) this.memory.activity.commit(key);
    return step;
  }

  /**
   * Activity the wake proxy reported: `last-activity` only moves forward, at most once a minute, except
   * that a request for a target the policy has asleep is always written (it is what wakes it).
   */
  private proxyActivity(e: Extract<Evaluated, { kind: "vcluster" }>): Step | null {
    const key = targetKey(e.ref);
    const pending = this.memory.pendingActivity.get(key);
    if (!pending) return null;
    const at = Math.floor(pending.at / 1000) * 1000;
    const recorded = e.recorded.lastActivity;
    const fresh = recorded !== undefined && at - recorded < ACTIVITY_WRITE_INTERVAL_MS;
    if ((recorded !== undefined && at <= recorded) || (fresh && e.decision.state !== "asleep")) {
      this.memory.pendingActivity.delete(key);
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

  /** Records the view, reports it, completes a pending wake, arms the transition timer. */
  private publish(
    e: Evaluated,
    now: number,
    extraErrors: PolicyError[] = [],
    workloadFailures: readonly string[] = [],
  ): void {
    const costLabelKeys = this.config.costLabels?.map((label) => label.key);
    const view = viewOf(e, now, this.config.prices.currency, extraErrors, costLabelKeys);
    if (workloadFailures.length > 0) view.reason = `${view.reason}; ${workloadFailures.join("; ")}`;
    const key = targetKey(e.ref);
    this.memory.views.set(key, view);
    if (e.kind === "vcluster") {
      if (e.policy.managed) this.routes.publish(routeOf(e.plane, e.policy.ignoreUserAgents));
      else this.routes.remove(e.ref.namespace, e.ref.name);
    }
    this.observer.targetObserved(view, now);
    const wokeAt = this.memory.pendingWakes.get(key);
    if (wokeAt !== undefined && view.state === "awake" && isReady(e)) {
      this.memory.pendingWakes.delete(key);
      this.observer.wakeCompleted(e.ref.kind, (now - wokeAt) / 1000, e.ref);
    }
    if (this.running)
      this.timers.arm(key, view.next?.at ?? null, this.clock.now(), () => this.queue.add(view));
    else this.timers.clear(key);
  }

  private async guard(run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (err) {
      this.effects.reportApiError(err, "reconcile");
    }
  }
}

/** Slumber's own sleep record is on the object (control plane or Namespace). */
const sleptBySlumber = (meta: { annotations: Readonly<Record<string, string>> }): boolean =>
  meta.annotations[Annotations.sleepingSince] !== undefined;

/** A woken target is ready when its control plane (or every workload it runs) has a ready replica. */
function isReady(e: Evaluated): boolean {
  if (e.kind === "vcluster") return !isPaused(e.plane) && e.plane.readyReplicas >= 1;
  if (isNamespaceAsleep(e.namespace)) return false;
  return e.workloads.every((w) => w.replicas === null || w.replicas === 0 || (w.readyReplicas ?? 0) >= 1);
}
