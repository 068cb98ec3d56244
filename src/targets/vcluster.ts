// SPEC §4 for a virtual cluster, compatible with `vcluster pause` / `vcluster resume`.
import type { ControlPlane, ObjectRef } from "../kube/types.js";
import { Annotations } from "../policy/annotations.js";
import type { SleepReason } from "../policy/types.js";
import { formatTimestamp, parseTimestamp, sleepRecord, wakeRecord } from "./bookkeeping.js";
import type { Step } from "./steps.js";

export const SYNCED_POD_LABEL = "vcluster.loft.sh/managed-by";
export const syncedPodSelector = (release: string): string => `${SYNCED_POD_LABEL}=${release}`;

export const controlPlaneRef = (plane: ControlPlane): ObjectRef => ({
  kind: plane.kind,
  namespace: plane.meta.namespace,
  name: plane.meta.name,
});

/** Asleep as far as the objects say: `loft.sh/paused` is the record, whoever wrote it. */
export const isPaused = (plane: ControlPlane): boolean =>
  plane.meta.annotations[Annotations.loftPaused] === "true";

const describe = (plane: ControlPlane) => `${plane.kind} ${plane.meta.namespace}/${plane.meta.name}`;

/**
 * Someone else's pause or resume, told apart from ours by `slumber.dev/sleeping-since`, which Slumber
 * writes in the same patch as `loft.sh/paused`:
 * - paused, no sleeping-since: `vcluster pause` → adopted as a manual sleep (a sleep event for the policy);
 * - sleeping-since, not paused: `vcluster resume`/`connect` → a deliberate wake, recorded as last-wake (use).
 */
export function planVclusterAdoption(plane: ControlPlane, now: number): Step | null {
  const annotations = plane.meta.annotations;
  const ours = annotations[Annotations.sleepingSince] !== undefined;
  if (isPaused(plane) && !ours) {
    const pausedAt = parseTimestamp(annotations[Annotations.loftPausedDate]) ?? now;
    const at = formatTimestamp(Math.min(pausedAt, now));
    return {
      action: "patch",
      purpose: "adoptPause",
      ref: controlPlaneRef(plane),
      patch: {
        annotations: {
          [Annotations.manualSleep]: at,
          [Annotations.sleepingSince]: at,
          [Annotations.sleepReason]: "manual",
        },
        resourceVersion: plane.meta.resourceVersion,
      },
      note: `${describe(plane)} was paused outside Slumber (vcluster pause); recorded as a manual sleep`,
    };
  }
  if (!isPaused(plane) && ours) {
    return {
      action: "patch",
      purpose: "adoptResume",
      ref: controlPlaneRef(plane),
      patch: { annotations: wakeRecord(annotations, now), resourceVersion: plane.meta.resourceVersion },
      note: `${describe(plane)} was resumed outside Slumber (vcluster resume); recorded as a deliberate wake`,
    };
  }
  return null;
}

/**
 * Next write towards sleep: (1) the record — pause annotations, paused-replicas, sleeping-since, reason,
 * cost snapshot — in one patch guarded by resourceVersion so paused-replicas is the count actually read;
 * (2) replicas 0; (3) its synced pods deleted. Null when asleep already.
 */
export function planVclusterSleep(
  plane: ControlPlane,
  syncedPodNames: readonly string[],
  now: number,
  reason: SleepReason,
  hourlyCost: number,
): Step | null {
  const ref = controlPlaneRef(plane);
  const annotations = plane.meta.annotations;
  if (!isPaused(plane)) {
    // A control plane at 0 that nobody paused was stopped by someone else: like a namespace workload already
    // at 0, it is left alone. Pausing it would record no count, and the wake would start it at the default 1.
    if (plane.replicas === 0) return null;
    const record: Record<string, string> = {
      [Annotations.loftPaused]: "true",
      [Annotations.loftPausedDate]: formatTimestamp(now),
      ...sleepRecord(annotations, now, reason, hourlyCost),
      // Always the live count (SPEC §4: "the replicas before sleep"): a paused-replicas on a plane that is not
      // paused is a leftover or a hand edit, possibly unreadable, and keeping it would wake to the wrong count.
      [Annotations.loftPausedReplicas]: String(plane.replicas),
    };
    return {
      action: "patch",
      purpose: "record",
      ref,
      patch: { annotations: record, resourceVersion: plane.meta.resourceVersion },
      note: `recording pause of ${describe(plane)} (replicas ${plane.replicas}, reason ${reason})`,
    };
  }
  if (plane.replicas > 0) {
    // paused-replicas absent (a foreign pause that recorded none) but replicas now set, e.g. by a revert: remember that count.
    const keep: Record<string, string> = {};
    if (annotations[Annotations.loftPausedReplicas] === undefined)
      keep[Annotations.loftPausedReplicas] = String(plane.replicas);
    return {
      action: "patch",
      purpose: "sleep",
      ref,
      patch: { annotations: keep, replicas: 0, resourceVersion: plane.meta.resourceVersion },
      note: `scaling ${describe(plane)} from ${plane.replicas} to 0`,
    };
  }
  if (syncedPodNames.length > 0) {
    return {
      action: "deletePods",
      purpose: "deleteSyncedPods",
      namespace: plane.meta.namespace,
      names: [...syncedPodNames],
      note: `deleting ${syncedPodNames.length} synced pod(s) of paused vcluster ${plane.meta.namespace}/${plane.release}`,
    };
  }
  return null;
}

/** The single wake write: replicas back to paused-replicas (default 1), pause and sleep record cleared, last-wake set. */
export function planVclusterWake(plane: ControlPlane, now: number): Step | null {
  if (!isPaused(plane)) return null;
  const annotations = plane.meta.annotations;
  const recorded = Number(annotations[Annotations.loftPausedReplicas]);
  const replicas = Number.isInteger(recorded) && recorded > 0 ? recorded : 1;
  return {
    action: "patch",
    purpose: "wake",
    ref: controlPlaneRef(plane),
    patch: {
      replicas,
      annotations: {
        [Annotations.loftPaused]: null,
        [Annotations.loftPausedReplicas]: null,
        [Annotations.loftPausedDate]: null,
        ...wakeRecord(annotations, now),
      },
      resourceVersion: plane.meta.resourceVersion,
    },
    note: `waking ${describe(plane)} to ${replicas} replicas`,
  };
}
