// Which pods belong to which workload, read from the pods alone (no ReplicaSet or Job reads): a
// Deployment's pods are owned by ReplicaSet `NAME-<pod-template-hash>`, a StatefulSet's pods by it directly.
import type { V1Pod } from "@kubernetes/client-node";
import type { Workload } from "../kube/types.js";

const controllerOf = (pod: V1Pod) =>
  pod.metadata?.ownerReferences?.find((o) => o.controller) ?? pod.metadata?.ownerReferences?.[0];

/** `Deployment/NAME` or `StatefulSet/NAME` owning the pod, or null (bare, DaemonSet, Job, anything else). */
export function owningWorkload(pod: V1Pod): string | null {
  const owner = controllerOf(pod);
  if (!owner) return null;
  if (owner.kind === "StatefulSet") return `StatefulSet/${owner.name}`;
  if (owner.kind === "ReplicaSet") {
    const hash = pod.metadata?.labels?.["pod-template-hash"];
    const suffix = hash ? `-${hash}` : null;
    if (suffix && owner.name.endsWith(suffix) && owner.name.length > suffix.length)
      return `Deployment/${owner.name.slice(0, -suffix.length)}`;
  }
  return null;
}

/** A Job's pod (a CronJob run, or a Job of its own). */
export const isJobPod = (pod: V1Pod): boolean => {
  const labels = pod.metadata?.labels ?? {};
  return (
    controllerOf(pod)?.kind === "Job" ||
    labels["batch.kubernetes.io/job-name"] !== undefined ||
    labels["job-name"] !== undefined
  );
};

/**
 * The pods a namespace sleep stops: those of the Deployments and StatefulSets it scales to zero. Not the
 * pods of excluded workloads, DaemonSets, bare pods, nor Jobs (suspending a CronJob stops new runs, not a
 * running Job).
 */
export function podsStoppedBySleep(pods: readonly V1Pod[], scaled: readonly Workload[]): V1Pod[] {
  const names = new Set(
    scaled
      .filter((w) => w.kind === "Deployment" || w.kind === "StatefulSet")
      .map((w) => `${w.kind}/${w.meta.name}`),
  );
  return pods.filter((pod) => {
    const owner = owningWorkload(pod);
    return owner !== null && names.has(owner);
  });
}
