// SPEC §4 for a virtual cluster, compatible with `vcluster pause` / `vcluster resume` v0.36 (pkg/lifecycle,
// pkg/cli/pause_helm.go): what Slumber pauses looks to the CLI exactly like the CLI's own pause, and the
// CLI's pauses, resumes and restores are understood here.
import { createHash } from "node:crypto";
import type { ControlPlane, ObjectRef, Workload } from "../kube/types.js";
import { Annotations } from "../policy/annotations.js";
import type { SleepReason } from "../policy/types.js";
import { formatTimestamp, sleepRecord, wakeRecord } from "./bookkeeping.js";
import type { Step } from "./steps.js";

export const SYNCED_POD_LABEL = "vcluster.loft.sh/managed-by";
export const syncedPodSelector = (release: string): string => `${SYNCED_POD_LABEL}=${release}`;

/** vcluster's translate.SafeConcatName: joined with "-", over 63 characters cut to 52 + "-" + 10 hex of sha256. */
function safeConcatName(...parts: string[]): string {
  const full = parts.join("-");
  if (full.length <= 63) return full;
  const digest = createHash("sha256").update(full).digest("hex").slice(0, 10);
  return `${full.slice(0, 52)}-${digest}`.replaceAll(".-", "-");
}

/**
 * Label selector of the host namespaces a multi-namespace virtual cluster manages; `vcluster pause` deletes
 * every pod in them (lifecycle.DeleteMultiNamespaceVClusterWorkloads).
 */
export const managedNamespaceSelector = (namespace: string, release: string): string =>
  `${SYNCED_POD_LABEL}=${safeConcatName(namespace, "x", release)}`;

export const controlPlaneRef = (plane: ControlPlane): ObjectRef => ({
  kind: plane.kind,
  namespace: plane.meta.namespace,
  name: plane.meta.name,
});

const workloadRef = (w: Workload): ObjectRef => ({
  kind: w.kind,
  namespace: w.meta.namespace,
  name: w.meta.name,
});

type Annotated = { meta: { annotations: Readonly<Record<string, string>> } };

/** `vcluster restore` / `certs rotate` hold the object (`loft.sh/restoring`): nobody else may scale it meanwhile. */
export const isRestoring = (object: Annotated): boolean =>
  object.meta.annotations[Annotations.loftRestoring] === "true";

/** `loft.sh/paused` is the record of a pause, whoever wrote it. */
const isLoftPaused = (object: Annotated): boolean =>
  object.meta.annotations[Annotations.loftPaused] === "true";

/** Asleep as far as the objects say, as the CLI's lifecycle.IsPaused reads them: paused, or held by a restore. */
export const isPaused = (object: Annotated): boolean => isLoftPaused(object) || isRestoring(object);

/** `time.Now().Format("2006-01-02T15:04:05.000Z")` as the CLI writes it, but in UTC, so the value is true. */
export const formatPausedDate = (ms: number): string => new Date(ms).toISOString();

/** What a sleep acts on besides the control plane, read with it. */
export interface VclusterParts {
  /**
   * With a Deployment control plane only (as the CLI): the `vcluster-api`, `vcluster-controller` Deployments and
   * the `vcluster-etcd` StatefulSet of the release, in the CLI's order.
   */
  companions: Workload[];
  /**
   * Pods the sleep deletes, by namespace: synced pods in the host namespace, then every pod of the namespaces
   * a multi-namespace cluster manages; none matching `sleep.auto.exclude.selector.labels`, none terminating.
   */
  podsToDelete: { namespace: string; names: string[] }[];
  /** The count to wake a pause recorded with `paused-replicas: "0"` to (configured HA replicas, default 1). */
  configuredReplicas: number;
}

const COMPANION_ORDER = ["vcluster-api", "vcluster-controller", "vcluster-etcd"];
export const sortCompanions = (companions: readonly Workload[]): Workload[] =>
  [...companions].sort(
    (a, b) =>
      COMPANION_ORDER.indexOf(a.meta.labels.app ?? "") - COMPANION_ORDER.indexOf(b.meta.labels.app ?? "") ||
      a.meta.name.localeCompare(b.meta.name),
  );

const describe = (object: { kind: string; meta: { namespace: string; name: string } }) =>
  `${object.kind} ${object.meta.namespace}/${object.meta.name}`;

/**
 * The replicas a wake restores. A recorded count above 0 is used. `"0"` (neither the CLI nor Slumber writes it:
 * both leave or record a plane already at 0 differently) would wake to a stopped cluster that `vcluster
 * connect` then refuses as ScaledDown, so it wakes to the configured replicas, as v0.36's pause would have
 * recorded. Absent or unreadable: the running count if replicas were restored meanwhile, else 1 (the CLI's default).
 */
export function wakeReplicas(object: Annotated & { replicas: number | null }, configured: number): number {
  const recorded = object.meta.annotations[Annotations.loftPausedReplicas];
  if (recorded !== undefined && /^\d+$/.test(recorded)) {
    const count = Number(recorded);
    return count > 0 ? count : configured;
  }
  return object.replicas !== null && object.replicas > 0 ? object.replicas : 1;
}

/**
 * Someone else's pause or resume, told apart from ours by `slumber.dev/sleeping-since`, which Slumber
 * writes in the same patch as `loft.sh/paused`:
 * - paused, no sleeping-since: `vcluster pause` → adopted as a manual sleep (a sleep event for the policy) with
 *   a cost snapshot of what was still running, dated
 *   when Slumber first sees it: the CLI's `paused-date` is local wall time with a literal `Z`, hours off west or
 *   east of UTC, and would date the sleep before recent use (which then wakes it at once) and inflate savings;
 * - sleeping-since, not paused: `vcluster resume`/`connect` → a deliberate wake, recorded as last-wake (use);
 * - paused with replicas back but without `paused-replicas` and `paused-date`: the end of a `vcluster restore`
 *   (or `certs rotate`) of a paused cluster, whose resume removes those two and leaves `loft.sh/paused`
 *   behind. A deliberate wake too; a revert (GitOps) keeps the pause annotations.
 * Nothing while a restore holds the plane.
 */
export function planVclusterAdoption(plane: ControlPlane, now: number, hourlyCost: number): Step | null {
  const annotations = plane.meta.annotations;
  if (isRestoring(plane)) return null;
  const ours = annotations[Annotations.sleepingSince] !== undefined;
  const paused = isLoftPaused(plane);
  const endOfRestore =
    paused &&
    plane.replicas > 0 &&
    annotations[Annotations.loftPausedReplicas] === undefined &&
    annotations[Annotations.loftPausedDate] === undefined;
  if (endOfRestore || (!paused && ours)) {
    return {
      action: "patch",
      purpose: "adoptResume",
      ref: controlPlaneRef(plane),
      patch: {
        annotations: {
          [Annotations.loftPaused]: null,
          [Annotations.pausedGeneration]: null,
          ...(ours ? wakeRecord(annotations, now) : { [Annotations.lastWake]: formatTimestamp(now) }),
        },
        resourceVersion: plane.meta.resourceVersion,
      },
      note: endOfRestore
        ? `${describe(plane)} was resumed at ${plane.replicas} replicas by a vcluster restore, which left loft.sh/paused behind; recorded as a deliberate wake`
        : `${describe(plane)} was resumed outside Slumber (vcluster resume); recorded as a deliberate wake`,
    };
  }
  if (paused && !ours) {
    return {
      action: "patch",
      purpose: "adoptPause",
      ref: controlPlaneRef(plane),
      patch: {
        // With the cost snapshot, so its savings count like those of Slumber's own sleeps (from now on only).
        annotations: {
          [Annotations.manualSleep]: formatTimestamp(now),
          ...sleepRecord(annotations, now, "manual", hourlyCost),
        },
        resourceVersion: plane.meta.resourceVersion,
      },
      note: `${describe(plane)} was paused outside Slumber (vcluster pause); recorded as a manual sleep from now`,
    };
  }
  return null;
}

/** Pauses one companion as the CLI does: pause annotations and replicas 0 in one patch, so no count is lost. */
function companionSleepStep(w: Workload, now: number): Step | null {
  const replicas = w.replicas ?? 0;
  if (replicas === 0) return null; // at rest without us: nothing to stop, and a wake must not start it
  if (isPaused(w)) {
    const keep: Record<string, string> = {};
    if (w.meta.annotations[Annotations.loftPausedReplicas] === undefined)
      keep[Annotations.loftPausedReplicas] = String(replicas);
    return {
      action: "patch",
      purpose: "revertUndone",
      ref: workloadRef(w),
      patch: { annotations: keep, replicas: 0, resourceVersion: w.meta.resourceVersion },
      note: `${describe(w)} scaled to ${replicas} while its virtual cluster is paused (a revert); scaling it back to 0`,
    };
  }
  return {
    action: "patch",
    purpose: "sleep",
    ref: workloadRef(w),
    patch: {
      annotations: {
        [Annotations.loftPaused]: "true",
        [Annotations.loftPausedReplicas]: String(replicas),
        [Annotations.loftPausedDate]: formatPausedDate(now),
      },
      replicas: 0,
      resourceVersion: w.meta.resourceVersion,
    },
    note: `pausing ${describe(w)} (replicas ${replicas}) with its virtual cluster`,
  };
}

/**
 * Next write towards sleep: (1) the record — pause annotations, paused-replicas, sleeping-since, reason,
 * cost snapshot — in one patch guarded by resourceVersion so paused-replicas is the count actually read;
 * (2) replicas 0; (3) a Deployment plane's etcd/api/controller paused; (4) pods deleted. Null when asleep already
 * or while a restore holds the plane.
 */
export function planVclusterSleep(
  plane: ControlPlane,
  parts: VclusterParts,
  now: number,
  reason: SleepReason,
  hourlyCost: number,
): Step | null {
  const ref = controlPlaneRef(plane);
  const annotations = plane.meta.annotations;
  if (isRestoring(plane)) return null;
  if (!isLoftPaused(plane)) {
    // A control plane at 0 that nobody paused was stopped by someone else: like a namespace workload already
    // at 0, it is left alone. Pausing it would record no count, and the wake would start it at the default 1.
    if (plane.replicas === 0) return null;
    const record: Record<string, string> = {
      [Annotations.loftPaused]: "true",
      [Annotations.loftPausedDate]: formatPausedDate(now),
      ...sleepRecord(annotations, now, reason, hourlyCost),
      // Always the live count (SPEC §4: "the replicas before sleep"): a paused-replicas on a plane that is not
      // paused is a leftover or a hand edit, possibly unreadable, and keeping it would wake to the wrong count.
      [Annotations.loftPausedReplicas]: String(plane.replicas),
      [Annotations.pausedGeneration]: String(plane.meta.generation),
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
    // The record changes no spec, so the generation it noted still holds until the scale-down: replicas at that
    // generation are our own unfinished sleep; at any other (or on a pause we did not record), a revert.
    const unfinished = annotations[Annotations.pausedGeneration] === String(plane.meta.generation);
    // paused-replicas absent (a foreign pause that recorded none): remember the count now set.
    const keep: Record<string, string> = {};
    if (annotations[Annotations.loftPausedReplicas] === undefined)
      keep[Annotations.loftPausedReplicas] = String(plane.replicas);
    return {
      action: "patch",
      purpose: unfinished ? "sleep" : "revertUndone",
      ref,
      patch: { annotations: keep, replicas: 0, resourceVersion: plane.meta.resourceVersion },
      note: unfinished
        ? `scaling ${describe(plane)} from ${plane.replicas} to 0`
        : `${describe(plane)} scaled to ${plane.replicas} while loft.sh/paused is set (a revert, e.g. GitOps self-heal); scaling it back to 0`,
    };
  }
  for (const companion of parts.companions) {
    const step = companionSleepStep(companion, now);
    if (step) return step;
  }
  const pods = parts.podsToDelete.find((group) => group.names.length > 0);
  if (pods) {
    return {
      action: "deletePods",
      purpose: "deleteSyncedPods",
      namespace: pods.namespace,
      names: [...pods.names],
      note: `deleting ${pods.names.length} pod(s) of paused vcluster ${plane.meta.namespace}/${plane.release} in ${pods.namespace}`,
    };
  }
  return null;
}

/**
 * Next write towards wake: each companion Slumber or the CLI paused, then the control plane, whose single
 * write restores its replicas, clears the pause and the sleep record and sets last-wake (so the sleep ends
 * last, and a crash part-way is finished by the next pass). Null when awake, or while a restore holds the plane.
 */
export function planVclusterWake(plane: ControlPlane, parts: VclusterParts, now: number): Step | null {
  if (isRestoring(plane)) return null;
  for (const companion of parts.companions) {
    if (!isLoftPaused(companion) || isRestoring(companion)) continue;
    const replicas = wakeReplicas(companion, parts.configuredReplicas);
    return {
      action: "patch",
      purpose: "restore",
      ref: workloadRef(companion),
      patch: {
        replicas,
        annotations: {
          [Annotations.loftPaused]: null,
          [Annotations.loftPausedReplicas]: null,
          [Annotations.loftPausedDate]: null,
        },
        resourceVersion: companion.meta.resourceVersion,
      },
      note: `resuming ${describe(companion)} to ${replicas} replicas with its virtual cluster`,
    };
  }
  if (!isLoftPaused(plane)) return null;
  const annotations = plane.meta.annotations;
  const replicas = wakeReplicas(plane, parts.configuredReplicas);
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
        [Annotations.pausedGeneration]: null,
        ...wakeRecord(annotations, now),
      },
      resourceVersion: plane.meta.resourceVersion,
    },
    note: `waking ${describe(plane)} to ${replicas} replicas`,
  };
}
