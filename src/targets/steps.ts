// A sleep or wake is a sequence of single writes. Planners (vcluster.ts, namespace.ts) look at the
// current objects and return the next missing write; applyStep performs it. Because each plan starts
// from what is on the server, a crash between two writes is finished by the next pass.
import type { KubeClient, ObjectMeta, ObjectPatch, ObjectRef } from "../kube/types.js";
import { runPool } from "../pool.js";

export type StepPurpose =
  /** Write the sleep record (before any replica changes). */
  | "record"
  /** Scale to zero / suspend / pause, the sleep itself. */
  | "sleep"
  /** Put back to sleep a workload someone scaled up while its target sleeps. */
  | "revertUndone"
  /** Delete a paused vcluster's synced pods. */
  | "deleteSyncedPods"
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
  | { action: "deletePods"; purpose: "deleteSyncedPods"; namespace: string; names: string[]; note: string };

/** Synced pods deleted at once by one step. */
const POD_DELETE_CONCURRENCY = 8;

/** Performs one step; returns the patched object's metadata (null for pod deletions). */
export async function applyStep(kube: KubeClient, step: Step): Promise<ObjectMeta | null> {
  if (step.action === "deletePods") {
    // One step for all pods: re-reading the target between single deletions cost a pass O(pods) reads.
    // Each delete is idempotent (a gone pod is no error), so a crash part-way is finished next pass; a few
    // at once, as a vcluster with many synced pods would otherwise sleep one round trip per pod.
    await runPool(step.names, POD_DELETE_CONCURRENCY, (name) => kube.deletePod(step.namespace, name));
    return null;
  }
  return kube.patch(step.ref, step.patch);
}
