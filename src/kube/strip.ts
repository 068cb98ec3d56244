// What the cache keeps of each object: only the fields Slumber reads. A raw Pod is ~5-10 kB of JSON and
// most of it (managedFields, volumes, env, probes, status conditions) is never looked at.
import type { V1Container, V1ObjectMeta, V1Pod } from "@kubernetes/client-node";
import type { RawObject } from "./listwatch.js";
import type { ObjectMeta } from "./types.js";

/** Written by `kubectl apply`: a full copy of the object, often kilobytes, never read by Slumber. */
const BULKY_ANNOTATIONS = new Set(["kubectl.kubernetes.io/last-applied-configuration"]);

/** `normalizeMeta` without the annotations Slumber never reads (and without copying when there are none). */
export function stripMeta(meta: V1ObjectMeta | undefined): ObjectMeta {
  const annotations = meta?.annotations ?? {};
  let kept: Record<string, string> = annotations;
  if (Object.keys(annotations).some((k) => BULKY_ANNOTATIONS.has(k))) {
    kept = {};
    for (const [k, v] of Object.entries(annotations)) if (!BULKY_ANNOTATIONS.has(k)) kept[k] = v;
  }
  return {
    namespace: meta?.namespace ?? "",
    name: meta?.name ?? "",
    uid: meta?.uid ?? "",
    resourceVersion: meta?.resourceVersion ?? "",
    generation: meta?.generation ?? 0,
    labels: meta?.labels ?? {},
    annotations: kept,
  };
}

type Resources = V1Container["resources"];

const stripResources = (resources: Resources): Resources => {
  if (!resources) return undefined;
  const kept: NonNullable<Resources> = {};
  if (resources.requests) kept.requests = resources.requests;
  if (resources.limits) kept.limits = resources.limits;
  return kept;
};

/**
 * A Pod with only what is read: name, namespace, uid, resourceVersion, labels, ownerReferences,
 * deletionTimestamp; each container's (and init container's) name, resources and restartPolicy (a
 * sidecar); spec.overhead; status.phase. Exactly what src/metrics/cost.ts prices and evaluate.ts filters on.
 */
export function stripPod(raw: RawObject | V1Pod): V1Pod {
  const pod = raw as V1Pod;
  const m = pod.metadata;
  const metadata: V1ObjectMeta = {
    name: m?.name ?? "",
    namespace: m?.namespace ?? "",
    uid: m?.uid ?? "",
    resourceVersion: m?.resourceVersion ?? "",
  };
  if (m?.labels) metadata.labels = m.labels;
  if (m?.deletionTimestamp) metadata.deletionTimestamp = m.deletionTimestamp;
  if (m?.ownerReferences?.length) {
    metadata.ownerReferences = m.ownerReferences.map((o) => ({
      apiVersion: o.apiVersion,
      kind: o.kind,
      name: o.name,
      uid: o.uid,
      ...(o.controller === undefined ? {} : { controller: o.controller }),
    }));
  }
  const containers = (pod.spec?.containers ?? []).map((c) => ({
    name: c.name,
    ...(c.resources ? { resources: stripResources(c.resources) } : {}),
  }));
  const spec: NonNullable<V1Pod["spec"]> = { containers };
  if (pod.spec?.initContainers?.length) {
    spec.initContainers = pod.spec.initContainers.map((c) => ({
      name: c.name,
      ...(c.restartPolicy ? { restartPolicy: c.restartPolicy } : {}),
      ...(c.resources ? { resources: stripResources(c.resources) } : {}),
    }));
  }
  if (pod.spec?.overhead) spec.overhead = pod.spec.overhead;
  const stripped: V1Pod = { metadata, spec };
  if (pod.status?.phase) stripped.status = { phase: pod.status.phase };
  return stripped;
}

/** Secrets holding a vcluster's config: `vc-config-RELEASE`. */
export const VC_CONFIG_PREFIX = "vc-config-";

/** `config.yaml` of a Secret, decoded; null when the key is absent. Nothing else of a Secret is kept. */
export function secretConfigYaml(raw: RawObject): string | null {
  const data = (raw as { data?: Record<string, string> }).data;
  const encoded = data?.["config.yaml"];
  return encoded === undefined ? null : Buffer.from(encoded, "base64").toString("utf8");
}
