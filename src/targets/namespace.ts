// SPEC §4 for a namespace target: each Deployment/StatefulSet, CronJob and KEDA ScaledObject is put to sleep
// with its original state recorded on itself; the namespace carries the sleep record.
import type { NamespaceObject, ObjectRef, Workload } from "../kube/types.js";
import { Annotations } from "../policy/annotations.js";
import type { SleepReason } from "../policy/types.js";
import { planLastActivity } from "./activity.js";
import { BookkeepingAnnotations, sleepRecord, wakeRecord } from "./bookkeeping.js";
import type { Step } from "./steps.js";

export { ACTIVITY_WRITE_INTERVAL_MS } from "./activity.js";

export const namespaceRef = (name: string): ObjectRef => ({ kind: "Namespace", namespace: name, name });
const workloadRef = (w: Workload): ObjectRef => ({
  kind: w.kind,
  namespace: w.meta.namespace,
  name: w.meta.name,
});
const describe = (w: Workload) => `${w.kind} ${w.meta.namespace}/${w.meta.name}`;

export const isNamespaceAsleep = (ns: NamespaceObject): boolean =>
  ns.meta.annotations[Annotations.sleepingSince] !== undefined;

/** A vcluster control plane inside the namespace belongs to the vcluster target, never to the namespace target. */
const isControlPlane = (w: Workload): boolean =>
  w.meta.labels.app === "vcluster" && w.meta.labels.release !== undefined;

/** `Kind/name`: how a workload is named within its namespace (skip sets, activity baselines). */
export const workloadKey = (w: { kind: string; meta: { name: string } }): string =>
  `${w.kind}/${w.meta.name}`;

/**
 * The workloads a namespace sleep acts on: not excluded and not a vcluster control plane. A Deployment or
 * StatefulSet driven by a ScaledObject is scaled by Slumber too, with its own count recorded on itself, so a
 * ScaledObject deleted while asleep loses nothing; its ScaledObject is paused at 0 so KEDA does not fight the
 * sleep. The target of an excluded ScaledObject is left to KEDA (scaling it would fight the operator).
 */
export function sleepableWorkloads(workloads: readonly Workload[]): Workload[] {
  const excluded = (w: Workload) => w.meta.annotations[Annotations.exclude] === "true";
  const targetOf = (so: Workload) =>
    so.scaleTarget ? `${so.scaleTarget.kind || "Deployment"}/${so.scaleTarget.name}` : "";
  const leftToKeda = new Set(
    workloads.filter((w) => w.kind === "ScaledObject" && excluded(w) && w.scaleTarget).map(targetOf),
  );
  const own = workloads.filter((w) => !excluded(w) && !isControlPlane(w) && !leftToKeda.has(workloadKey(w)));
  const scaledByUs = new Set(
    own.filter((w) => w.kind === "Deployment" || w.kind === "StatefulSet").map(workloadKey),
  );
  // A ScaledObject is paused only when Slumber scales its target itself (recording its count first). Its
  // target excluded, of a kind Slumber does not scale (an Argo Rollout), or missing: paused at 0, KEDA would
  // scale that target to 0 with no count recorded, so the pair is left to KEDA.
  return own
    .filter((w) => w.kind !== "ScaledObject" || scaledByUs.has(targetOf(w)))
    .sort((a, b) => workloadKey(a).localeCompare(workloadKey(b)));
}

/**
 * Sleep records and scales each Deployment/StatefulSet before it pauses any ScaledObject: a pause at 0
 * first would let KEDA zero the target before its count is recorded. Wake unpauses the ScaledObjects first:
 * restoring a target while `paused-replicas: "0"` still holds would let KEDA zero it again.
 */
const SLEEP_ORDER: Record<Workload["kind"], number> = {
  Deployment: 0,
  StatefulSet: 0,
  CronJob: 1,
  ScaledObject: 2,
};
const inOrder = (workloads: readonly Workload[], rank: (w: Workload) => number): Workload[] =>
  [...workloads].sort((a, b) => rank(a) - rank(b) || workloadKey(a).localeCompare(workloadKey(b)));

/** The write that puts one workload to sleep, or null when it is asleep (or was at rest without us). */
function workloadSleepStep(w: Workload): Step | null {
  const annotations = w.meta.annotations;
  const ref = workloadRef(w);
  switch (w.kind) {
    case "Deployment":
    case "StatefulSet": {
      if (!w.replicas) return null;
      // Never overwrite a recorded count: the first one is what the workload ran with before the sleep.
      const original = annotations[Annotations.originalReplicas] ?? String(w.replicas);
      return {
        action: "patch",
        purpose: annotations[Annotations.originalReplicas] === undefined ? "sleep" : "revertUndone",
        ref,
        patch: {
          annotations: { [Annotations.originalReplicas]: original },
          replicas: 0,
          resourceVersion: w.meta.resourceVersion,
        },
        note: `scaling ${describe(w)} from ${w.replicas} to 0`,
      };
    }
    case "CronJob": {
      if (w.suspend !== false) return null;
      const original = annotations[Annotations.originalSuspend] ?? "false";
      return {
        action: "patch",
        purpose: annotations[Annotations.originalSuspend] === undefined ? "sleep" : "revertUndone",
        ref,
        patch: {
          annotations: { [Annotations.originalSuspend]: original },
          suspend: true,
          resourceVersion: w.meta.resourceVersion,
        },
        note: `suspending ${describe(w)}`,
      };
    }
    case "ScaledObject": {
      const current = annotations[Annotations.kedaPausedReplicas];
      const ours = annotations[BookkeepingAnnotations.kedaPausedBySlumber] !== undefined;
      // Already held at 0 (by us, or by its owners: then there is nothing to stop and nothing to restore).
      if (current === "0") return null;
      // The owners' own paused-replicas (KEDA holds the target there) is recorded once and put back on wake.
      const record: Record<string, string> = ours
        ? {}
        : {
            [BookkeepingAnnotations.kedaPausedBySlumber]: "true",
            ...(current === undefined
              ? {}
              : { [BookkeepingAnnotations.originalKedaPausedReplicas]: current }),
          };
      return {
        action: "patch",
        purpose: ours ? "revertUndone" : "sleep",
        ref,
        patch: {
          annotations: { [Annotations.kedaPausedReplicas]: "0", ...record },
          resourceVersion: w.meta.resourceVersion,
        },
        note:
          current === undefined
            ? `pausing ${describe(w)} at 0 replicas`
            : `pausing ${describe(w)} at 0 replicas (its own paused-replicas "${current}" recorded)`,
      };
    }
  }
}

/** The write that restores one workload, or null when Slumber did not change it. */
function workloadWakeStep(w: Workload): Step | null {
  const annotations = w.meta.annotations;
  const ref = workloadRef(w);
  const originalReplicas = annotations[Annotations.originalReplicas];
  if ((w.kind === "Deployment" || w.kind === "StatefulSet") && originalReplicas !== undefined) {
    const replicas = Number(originalReplicas);
    const valid = Number.isInteger(replicas) && replicas >= 0;
    return {
      action: "patch",
      purpose: "restore",
      ref,
      // A mangled record is dropped rather than guessed; the workload stays at its current count.
      patch: valid
        ? {
            annotations: { [Annotations.originalReplicas]: null },
            replicas,
            resourceVersion: w.meta.resourceVersion,
          }
        : { annotations: { [Annotations.originalReplicas]: null }, resourceVersion: w.meta.resourceVersion },
      note: valid
        ? `restoring ${describe(w)} to ${replicas} replicas`
        : `dropping unreadable ${Annotations.originalReplicas}="${originalReplicas}" on ${describe(w)}; left at ${w.replicas} replicas`,
    };
  }
  const originalSuspend = annotations[Annotations.originalSuspend];
  if (w.kind === "CronJob" && originalSuspend !== undefined) {
    return {
      action: "patch",
      purpose: "restore",
      ref,
      patch: {
        annotations: { [Annotations.originalSuspend]: null },
        suspend: originalSuspend === "true",
        resourceVersion: w.meta.resourceVersion,
      },
      note: `restoring ${describe(w)} suspend=${originalSuspend === "true"}`,
    };
  }
  if (w.kind === "ScaledObject" && annotations[BookkeepingAnnotations.kedaPausedBySlumber] !== undefined) {
    // Exactly what the owners had: their paused-replicas back, or none; their `paused` was never touched.
    const original = annotations[BookkeepingAnnotations.originalKedaPausedReplicas] ?? null;
    return {
      action: "patch",
      purpose: "restore",
      ref,
      patch: {
        annotations: {
          [Annotations.kedaPausedReplicas]: original,
          [BookkeepingAnnotations.kedaPausedBySlumber]: null,
          [BookkeepingAnnotations.originalKedaPausedReplicas]: null,
        },
        resourceVersion: w.meta.resourceVersion,
      },
      note:
        original === null
          ? `unpausing ${describe(w)}`
          : `restoring ${describe(w)} paused-replicas "${original}"`,
    };
  }
  return null;
}

/**
 * The next writes towards sleep: the namespace's record first (alone), then every workload whose write does
 * not wait on another one, as one wave that may be written in parallel (each write is guarded by the
 * workload's resourceVersion). Empty when all are asleep.
 */
export function planNamespaceSleep(
  ns: NamespaceObject,
  workloads: readonly Workload[],
  now: number,
  reason: SleepReason,
  hourlyCost: number,
  skip: ReadonlySet<string> = new Set(),
): Step[] {
  if (!isNamespaceAsleep(ns)) {
    return [
      {
        action: "patch",
        purpose: "record",
        ref: namespaceRef(ns.meta.name),
        // Guarded by resourceVersion: a concurrent or stale pass gets 409 and re-reads instead of recording twice.
        patch: {
          annotations: sleepRecord(ns.meta.annotations, now, reason, hourlyCost),
          resourceVersion: ns.meta.resourceVersion,
        },
        note: `recording sleep of Namespace ${ns.meta.name} (reason ${reason})`,
      },
    ];
  }
  const sleepable = sleepableWorkloads(workloads);
  const wave: Step[] = [];
  for (const w of inOrder(sleepable, (w) => SLEEP_ORDER[w.kind])) {
    if (skip.has(workloadKey(w))) continue;
    // A ScaledObject is paused only once its target's own count is recorded (a later wave): paused at 0
    // first, KEDA would scale the target to 0 with nothing recorded, and its count would be lost.
    if (w.kind === "ScaledObject" && scaleTargetOf(w, sleepable, workloadSleepStep)) continue;
    const step = workloadSleepStep(w);
    if (step) wave.push(step);
  }
  return wave;
}

/** The ScaledObject's target workload, when `pending` still has a step for it. */
function scaleTargetOf(
  scaledObject: Workload,
  workloads: readonly Workload[],
  pending: (w: Workload) => Step | null,
): Workload | undefined {
  const target = scaledObject.scaleTarget;
  if (!target) return undefined;
  return workloads.find(
    (w) =>
      w.kind !== "ScaledObject" &&
      w.kind === (target.kind || "Deployment") &&
      w.meta.name === target.name &&
      pending(w) !== null,
  );
}

/**
 * The next writes towards wake: every workload Slumber changed whose restore does not wait on another one
 * (one wave, written in parallel), then, alone, the namespace's record. Empty when awake.
 */
export function planNamespaceWake(
  ns: NamespaceObject,
  workloads: readonly Workload[],
  now: number,
  skip: ReadonlySet<string> = new Set(),
  letGo = false,
): Step[] {
  const wave: Step[] = [];
  for (const w of inOrder(workloads, (w) => -SLEEP_ORDER[w.kind])) {
    if (skip.has(workloadKey(w))) continue;
    // A workload is restored only once its ScaledObject is handed back to KEDA (a later wave): paused at 0,
    // KEDA would scale it straight back to 0.
    if (w.kind !== "ScaledObject" && heldByPausedScaledObject(w, workloads)) continue;
    const step = workloadWakeStep(w);
    if (step) wave.push(step);
  }
  if (wave.length > 0 || !isNamespaceAsleep(ns)) return wave;
  // Letting a target go (opted out, excluded, now hosting a vcluster): a workload still held (its restore failed
  // this pass, or its ScaledObject's did) keeps the sleep record. Closed now, the namespace would no longer be
  // read, and that workload would stay at 0 for good. A managed namespace's record is closed (SPEC appendix).
  if (letGo && workloads.some((w) => workloadWakeStep(w) !== null)) return [];
  return [
    {
      action: "patch",
      purpose: "wake",
      ref: namespaceRef(ns.meta.name),
      patch: { annotations: wakeRecord(ns.meta.annotations, now), resourceVersion: ns.meta.resourceVersion },
      note: `ending sleep of Namespace ${ns.meta.name}`,
    },
  ];
}

/** Whether a ScaledObject that Slumber paused, and has not yet handed back, scales `w`. */
const heldByPausedScaledObject = (w: Workload, workloads: readonly Workload[]): boolean =>
  workloads.some(
    (so) =>
      so.kind === "ScaledObject" &&
      so.scaleTarget?.name === w.meta.name &&
      (so.scaleTarget.kind || "Deployment") === w.kind &&
      workloadWakeStep(so) !== null,
  );

/** Records a change to the namespace's workloads that Slumber did not make as activity (rate-limited). */
export const planActivityRecord = (ns: NamespaceObject, now: number, what: string): Step | null =>
  planLastActivity(namespaceRef(ns.meta.name), ns.meta, now, what);

/**
 * What the objects say is left to do (for REASON): workloads still running while the namespace is
 * asleep, or still held by Slumber while it is awake. Empty once a transition is complete; after a pass,
 * a name here is a workload whose write keeps failing.
 */
export function unfinishedWorkloads(ns: NamespaceObject, workloads: readonly Workload[]): string {
  const asleep = isNamespaceAsleep(ns);
  const left = asleep
    ? sleepableWorkloads(workloads).filter((w) => workloadSleepStep(w) !== null)
    : workloads.filter((w) => workloadWakeStep(w) !== null);
  if (left.length === 0) return "";
  return `${asleep ? "not yet asleep" : "not yet woken"}: ${left.map(describe).join(", ")}`;
}
