// SPEC §1 safety: a control plane whose data would be lost by a scale to zero is never put to sleep.
import { parse } from "yaml";
import type { ControlPlane } from "../kube/types.js";
import { Annotations } from "../policy/annotations.js";

export type Persistence = { persistent: true; why: string } | { persistent: false; why: string };

type Tree = Record<string, unknown>;
const child = (tree: unknown, key: string): unknown =>
  tree !== null && typeof tree === "object" ? (tree as Tree)[key] : undefined;
const path = (tree: unknown, keys: string[]): unknown => keys.reduce(child, tree);

const parseConfig = (configYaml: string | null): unknown => {
  if (!configYaml) return null;
  try {
    return parse(configYaml);
  } catch {
    return null; // an unreadable config proves nothing
  }
};

/**
 * `controlPlane.statefulSet.highAvailability.replicas` (default 1): what `vcluster pause` v0.36 records as
 * `paused-replicas` for a plane that is already at 0 (lifecycle.getConfiguredReplicas).
 */
export function configuredReplicas(configYaml: string | null): number {
  const replicas = path(parseConfig(configYaml), [
    "controlPlane",
    "statefulSet",
    "highAvailability",
    "replicas",
  ]);
  return typeof replicas === "number" && Number.isInteger(replicas) && replicas > 0 ? replicas : 1;
}

/** The datastore named in a vcluster.yaml that lives outside the control-plane pod, if any. */
export function externalDatastore(configYaml: string | null): string | null {
  const config = parseConfig(configYaml);
  const store = path(config, ["controlPlane", "backingStore"]);
  if (path(store, ["database", "external", "enabled"]) === true)
    return "controlPlane.backingStore.database.external";
  if (path(store, ["etcd", "external", "enabled"]) === true) return "controlPlane.backingStore.etcd.external";
  // A deployed etcd is its own StatefulSet with its own volumes; scaling the control plane leaves it intact.
  if (path(store, ["etcd", "deploy", "enabled"]) === true) return "controlPlane.backingStore.etcd.deploy";
  return null;
}

/**
 * Whether scaling this control plane to zero keeps its data: an administrator's `slumber.dev/persistent: "true"`
 * (`vouched`, as resolved by the policy), a StatefulSet with volumeClaimTemplates, or an external datastore.
 */
export function controlPlanePersistence(
  plane: ControlPlane,
  vouched: boolean,
  configYaml: string | null,
): Persistence {
  if (vouched) return { persistent: true, why: `${Annotations.persistent}: "true"` };
  if (plane.kind === "StatefulSet" && plane.hasVolumeClaimTemplates)
    return { persistent: true, why: "StatefulSet volumeClaimTemplates" };
  const datastore = externalDatastore(configYaml);
  if (datastore) return { persistent: true, why: `${datastore} in vc-config-${plane.release}` };
  const shape = plane.kind === "Deployment" ? "a Deployment" : "a StatefulSet without volumeClaimTemplates";
  return {
    persistent: false,
    why: `control plane is ${shape} and vc-config-${plane.release} names no external datastore; set ${Annotations.persistent}: "true" if its data survives a restart`,
  };
}
