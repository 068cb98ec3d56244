// The narrow view of the API server Slumber needs. The real client (client.ts) and the in-memory
// fake (test/fakes/kube.ts) implement the same interface, so the reconciler runs unchanged on both.
import type { V1Pod } from "@kubernetes/client-node";

export type ControlPlaneKind = "StatefulSet" | "Deployment";
export type WorkloadKind = "Deployment" | "StatefulSet" | "CronJob" | "ScaledObject";
/** Everything Slumber ever patches. */
export type PatchableKind = WorkloadKind | "Namespace";

/** Names one object; `namespace` is the object's own name for a Namespace. */
export interface ObjectRef {
  kind: PatchableKind;
  namespace: string;
  name: string;
}

export const describeRef = (ref: ObjectRef): string =>
  ref.kind === "Namespace" ? `Namespace ${ref.name}` : `${ref.kind} ${ref.namespace}/${ref.name}`;

export interface ObjectMeta {
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: string;
  /** metadata.generation; 0 where the kind has none (Namespace). */
  generation: number;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
}

/** A vcluster control plane: a StatefulSet or Deployment labelled `app=vcluster,release=NAME`. */
export interface ControlPlane {
  kind: ControlPlaneKind;
  meta: ObjectMeta;
  /** Label `release`: the virtual cluster's name. */
  release: string;
  /** spec.replicas (defaults to 1 like the API server). */
  replicas: number;
  /** status.replicas: pods that exist. */
  statusReplicas: number;
  readyReplicas: number;
  /** A StatefulSet with volumeClaimTemplates keeps its data across a scale to zero. */
  hasVolumeClaimTemplates: boolean;
}

export interface NamespaceObject {
  meta: ObjectMeta;
}

/** A Deployment, StatefulSet, CronJob or KEDA ScaledObject inside a namespace target. */
export interface Workload {
  kind: WorkloadKind;
  meta: ObjectMeta;
  /** spec.replicas for Deployments and StatefulSets, else null. */
  replicas: number | null;
  readyReplicas: number | null;
  /** spec.suspend for CronJobs, else null. */
  suspend: boolean | null;
  /** spec.scaleTargetRef of a ScaledObject (KEDA scales it), else null. */
  scaleTarget: { kind: string; name: string } | null;
  /**
   * Digest of the spec without `replicas` (and a CronJob's `suspend`): what a deploy changes and an
   * autoscaler or Slumber's own sleep/wake does not. Compared for activity instead of `generation`.
   */
  specFingerprint: string;
}

/** A JSON merge patch limited to what Slumber writes. `null` removes an annotation. */
export interface ObjectPatch {
  annotations?: Readonly<Record<string, string | null>>;
  /** spec.replicas (Deployment, StatefulSet). */
  replicas?: number;
  /** spec.suspend (CronJob). */
  suspend?: boolean;
  /** Optimistic concurrency: the API server answers 409 when the object changed since this version. */
  resourceVersion?: string;
}

export interface EventSpec {
  regarding: ObjectRef & { uid?: string };
  type: "Normal" | "Warning";
  /** CamelCase, e.g. `Sleeping`, `Woken`, `RevertUndone`, `PolicyError`. */
  reason: string;
  /** Machine-readable verb, e.g. `Sleep`, `Wake`. */
  action: string;
  note: string;
}

export type WatchedResource = "controlPlanes" | "namespaces" | "workloads";

export interface WatchEvent {
  resource: WatchedResource;
  type: "added" | "modified" | "deleted";
  kind: PatchableKind;
  namespace: string;
  name: string;
  labels: Readonly<Record<string, string>>;
}

export interface WatchHandle {
  /** Resolves once every underlying informer has listed its objects. */
  synced: Promise<void>;
  stop(): Promise<void>;
}

export interface KubeClient {
  /** Every vcluster control plane in the cluster. */
  listControlPlanes(): Promise<ControlPlane[]>;
  /** The control plane of release `release` in `namespace`, or null. */
  getControlPlane(namespace: string, release: string): Promise<ControlPlane | null>;
  /** Every Namespace, or those matching `labelSelector` (equality terms, comma-separated). */
  listNamespaces(labelSelector?: string): Promise<NamespaceObject[]>;
  getNamespace(name: string): Promise<NamespaceObject | null>;
  /** Deployments, StatefulSets, CronJobs, and ScaledObjects when the KEDA CRD is installed. */
  listWorkloads(namespace: string): Promise<Workload[]>;
  listPods(namespace: string, labelSelector?: string): Promise<V1Pod[]>;
  /**
   * What `vcluster pause` scales together with a Deployment control plane of `release`: the
   * `app=vcluster-etcd` StatefulSet and the `app=vcluster-api` / `app=vcluster-controller` Deployments
   * labelled `release=RELEASE` in `namespace`.
   */
  listCompanions(namespace: string, release: string): Promise<Workload[]>;
  /** Deletes one pod; a pod that is already gone is not an error. */
  deletePod(namespace: string, name: string): Promise<void>;
  /** `config.yaml` of Secret `vc-config-RELEASE`, decoded; null when absent. */
  readVclusterConfig(namespace: string, release: string): Promise<string | null>;
  /** JSON merge patch; returns the object's metadata after the write. */
  patch(ref: ObjectRef, patch: ObjectPatch): Promise<ObjectMeta>;
  recordEvent(event: EventSpec): Promise<void>;
  /** Starts informers for `resource`; they restart themselves with backoff after errors. */
  watch(resource: WatchedResource, onEvent: (event: WatchEvent) => void): WatchHandle;
  /** A Secret's decoded data, or null when it does not exist. */
  readSecret(namespace: string, name: string): Promise<SecretData | null>;
  /** Creates a Secret; "exists" when one of that name is already there (another replica won the race). */
  createSecret(namespace: string, name: string, data: SecretData): Promise<"created" | "exists">;
  /**
   * Follows one Secret by name (read, then a watch by field selector that restarts itself): `onChange` gets
   * its data, or null while it does not exist. `synced` resolves after the first answer.
   */
  watchSecret(namespace: string, name: string, onChange: (data: SecretData | null) => void): WatchHandle;
}

/** A Secret's `data`, decoded. */
export type SecretData = Readonly<Record<string, Buffer>>;

/**
 * A failed API call: names the operation and the object; `code` is the HTTP status (undefined for a network
 * error or timeout). `retryAfterMs`: the Retry-After of a 429 or 503, when it had a valid one (at most 60 s).
 */
export class KubeError extends Error {
  override readonly name = "KubeError";
  constructor(
    readonly operation: string,
    readonly object: string,
    readonly code: number | undefined,
    detail: string,
    readonly retryAfterMs?: number,
  ) {
    super(`${operation} ${object}: ${code === undefined ? "" : `HTTP ${code}: `}${detail}`);
  }
}

export const isConflict = (err: unknown): boolean => err instanceof KubeError && err.code === 409;
export const isNotFound = (err: unknown): boolean => err instanceof KubeError && err.code === 404;
