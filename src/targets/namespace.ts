// SPEC §4 for a namespace target: each Deployment/StatefulSet, CronJob and KEDA ScaledObject is put to sleep
// with its original state recorded on itself; the namespace carries the sleep record.
import type { NamespaceObject, ObjectRef, Workload } from "../kube/types.js";
import { Annotations } from "../policy/annotations.js";
import type { SleepReason } from "../policy/types.js";
import {
  BookkeepingAnnotations,
  formatTimestamp,
  parseTimestamp,
  sleepRecord,
  wakeRecord,
} from "./bookkeeping.js";
import type { Step } from "./steps.js";

/** Activity is written to the namespace at most this often (SPEC §7's rate for last-activity). */
export const ACTIVITY_WRITE_INTERVAL_MS = 60_000;

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

/**
 * The workloads a namespace sleep acts on: not excluded, not a vcluster control plane, and not a
 * Deployment/StatefulSet driven by a ScaledObject (pausing the ScaledObject puts it to sleep; scaling it too would fight KEDA).
 */
export function sleepableWorkloads(workloads: readonly Workload[]): Workload[] {
  const excluded = (w: Workload) => w.meta.annotations[Annotations.exclude] === "true";
  const kedaDriven = new Set(
    workloads
      .filter((w) => w.kind === "ScaledObject" && !excluded(w) && w.scaleTarget)
      .map((w) => `${w.scaleTarget?.kind}/${w.scaleTarget?.name}`),
  );
  return workloads
    .filter((w) => !excluded(w) && !isControlPlane(w) && !kedaDriven.has(`${w.kind}/${w.meta.name}`))
    .sort((a, b) => `${a.kind}/${a.meta.name}`.localeCompare(`${b.kind}/${b.meta.name}`));
}

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
      if (annotations[Annotations.kedaPausedReplicas] !== undefined) return null;
      return {
        action: "patch",
        purpose:
          annotations[BookkeepingAnnotations.kedaPausedBySlumber] === undefined ? "sleep" : "revertUndone",
        ref,
        patch: {
          annotations: {
            [Annotations.kedaPausedReplicas]: "0",
            [BookkeepingAnnotations.kedaPausedBySlumber]: "true",
          },
          resourceVersion: w.meta.resourceVersion,
        },
        note: `pausing ${describe(w)} at 0 replicas`,
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
    return {
      action: "patch",
      purpose: "restore",
      ref,
      patch: {
        annotations: {
          [Annotations.kedaPausedReplicas]: null,
          [BookkeepingAnnotations.kedaPausedBySlumber]: null,
        },
        resourceVersion: w.meta.resourceVersion,
      },
      note: `unpausing ${describe(w)}`,
    };
  }
  return null;
}

/** Next write towards sleep: the namespace's record first, then each workload. Null when all are asleep. */
export function planNamespaceSleep(
  ns: NamespaceObject,
  workloads: readonly Workload[],
  now: number,
  reason: SleepReason,
  hourlyCost: number,
): Step | null {
  if (!isNamespaceAsleep(ns)) {
    return {
      action: "patch",
      purpose: "record",
      ref: namespaceRef(ns.meta.name),
      // Guarded by resourceVersion: a concurrent or stale pass gets 409 and re-reads instead of recording twice.
      patch: {
        annotations: sleepRecord(ns.meta.annotations, now, reason, hourlyCost),
        resourceVersion: ns.meta.resourceVersion,
      },
      note: `recording sleep of Namespace ${ns.meta.name} (reason ${reason})`,
    };
  }
  for (const w of sleepableWorkloads(workloads)) {
    const step = workloadSleepStep(w);
    if (step) return step;
  }
  return null;
}

/** Next write towards wake: each workload Slumber changed, then the namespace's record. Null when awake. */
export function planNamespaceWake(
  ns: NamespaceObject,
  workloads: readonly Workload[],
  now: number,
): Step | null {
  for (const w of [...workloads].sort((a, b) =>
    `${a.kind}/${a.meta.name}`.localeCompare(`${b.kind}/${b.meta.name}`),
  )) {
    const step = workloadWakeStep(w);
    if (step) return step;
  }
  if (!isNamespaceAsleep(ns)) return null;
  return {
    action: "patch",
    purpose: "wake",
    ref: namespaceRef(ns.meta.name),
    patch: { annotations: wakeRecord(ns.meta.annotations, now), resourceVersion: ns.meta.resourceVersion },
    note: `ending sleep of Namespace ${ns.meta.name}`,
  };
}

/** Records a change to the namespace's workloads that Slumber did not make as activity (rate-limited). */
export function planActivityRecord(ns: NamespaceObject, now: number, what: string): Step | null {
  const last = parseTimestamp(ns.meta.annotations[Annotations.lastActivity]);
  if (last !== null && now - last < ACTIVITY_WRITE_INTERVAL_MS) return null;
  return {
    action: "patch",
    purpose: "activity",
    ref: namespaceRef(ns.meta.name),
    patch: {
      annotations: {
        [Annotations.lastActivity]: formatTimestamp(now),
        [Annotations.lastActivitySource]: "workload",
      },
      resourceVersion: ns.meta.resourceVersion,
    },
    note: `Namespace ${ns.meta.name}: ${what} changed outside Slumber; recorded as activity`,
  };
}
