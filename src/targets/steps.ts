// A sleep or wake is a sequence of single writes. Planners (vcluster.ts, namespace.ts) look at the
// current objects and return the next missing write; applyStep performs it. Because each plan starts
// from what is on the server, a crash between two writes is finished by the next pass.
import type { KubeClient, ObjectMeta, ObjectPatch, ObjectRef } from "../kube/types.js";

export type StepPurpose =
  /** Write the sleep record (before any replica changes). */
  | "record"
  /** Scale to zero / suspend / pause, the sleep itself. */
  | "sleep"
  /** Put back to sleep a workload someone scaled up while its target sleeps. */
  | "revertUndone"
  | "deleteSyncedPod"
  /** Restore one workload on wake. */
  | "restore"
  /** The write that ends the sleep record (and, for a vcluster, restores its replicas). */
  | "wake"
  /** Record that someone else paused (`vcluster pause`) or resumed (`vcluster resume`) the target. */
  | "adoptPause"
  | "adoptResume"
  /** A namespace workload changed by someone else while awake: recorded as activity. */
  | "activity";

export type Step =
  | { action: "patch"; purpose: StepPurpose; ref: ObjectRef; patch: ObjectPatch; note: string }
  | { action: "deletePod"; purpose: "deleteSyncedPod"; namespace: string; name: string; note: string };

/** Performs one step; returns the patched object's metadata (null for a pod deletion). */
export async function applyStep(kube: KubeClient, step: Step): Promise<ObjectMeta | null> {
  if (step.action === "deletePod") {
    await kube.deletePod(step.namespace, step.name);
    return null;
  }
  return kube.patch(step.ref, step.patch);
}
