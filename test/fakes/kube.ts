// In-memory KubeClient for tests and the benchmark: same interface as the real client, with
// per-call error injection, a crash after the N-th write, and resourceVersion preconditions.
import type { V1Pod } from "@kubernetes/client-node";
import {
  type ControlPlane,
  type ControlPlaneKind,
  describeRef,
  type EventSpec,
  type KubeClient,
  KubeError,
  type NamespaceObject,
  type ObjectMeta,
  type ObjectPatch,
  type ObjectRef,
  type SecretData,
  type WatchEvent,
  type WatchedResource,
  type WatchHandle,
  type Workload,
  type WorkloadKind,
} from "../../src/kube/types.js";

export type FakeOperation = Exclude<keyof KubeClient, "watch" | "watchSecret">;
/** An HTTP status, or `timeout` (a KubeError without status, like a network timeout). */
export type InjectedFailure = number | "timeout";

/** A write through the client: what the reconciler changed. */
export interface RecordedWrite {
  operation: "patch" | "deletePod";
  ref: ObjectRef | { kind: "Pod"; namespace: string; name: string };
  patch?: ObjectPatch;
}

/** Thrown by the N-th write after `crashAfterWrites(N)`: a process dying mid-sequence. */
export class SimulatedCrash extends Error {
  override readonly name = "SimulatedCrash";
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };

const key = (namespace: string, name: string) => `${namespace}/${name}`;

export interface ControlPlaneSeed {
  namespace: string;
  release: string;
  kind?: ControlPlaneKind;
  replicas?: number;
  annotations?: Record<string, string>;
  /** StatefulSet with volumeClaimTemplates (default true for StatefulSets). */
  volumeClaims?: boolean;
}

export interface WorkloadSeed {
  replicas?: number;
  /** Stands for spec.template (an image, say): changing it is a deploy. */
  template?: string;
  suspend?: boolean;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  scaleTarget?: { kind: string; name: string };
}

export class FakeKube implements KubeClient {
  readonly controlPlanes = new Map<string, Mutable<ControlPlane>>();
  readonly namespaces = new Map<string, Mutable<NamespaceObject>>();
  readonly workloads = new Map<string, Mutable<Workload>>();
  readonly pods = new Map<string, V1Pod>();
  readonly vclusterConfigs = new Map<string, string>();
  readonly events: EventSpec[] = [];
  readonly writes: RecordedWrite[] = [];
  /** When false, readyReplicas stays where it is until `setReady`. */
  autoReady = true;
  private resourceVersion = 1;
  private uid = 1;
  /** Standing denials (an admission policy): every matching patch fails with `code` until lifted. */
  private readonly denials: { match: (ref: ObjectRef) => boolean; code: number }[] = [];
  private readonly failures: {
    operation: FakeOperation;
    failure: InjectedFailure;
    match?: (ref: ObjectRef) => boolean;
  }[] = [];
  private crashAtWrite: number | null = null;
  private writeCount = 0;
  private readonly watchers = new Set<(event: WatchEvent) => void>();
  readonly secrets = new Map<string, SecretData>();
  private readonly secretWatchers = new Set<{ key: string; onChange: (data: SecretData | null) => void }>();
  /** API reads of Secrets (get), to prove the proxy reads from memory. */
  secretReads = 0;
  /** The API server is unreachable for Secret watches: a new watch delivers nothing until `secretsReachable()`. */
  private secretsDown = false;
  private readonly secretWatchersWaiting = new Set<{
    key: string;
    onChange: (data: SecretData | null) => void;
  }>();

  /** New Secret watches cannot read (like the real client while the API server is down): no data, no "absent". */
  secretsUnreachable(): void {
    this.secretsDown = true;
  }

  /** The API server is back: watches that could not read deliver the Secret now (the real client retries). */
  secretsReachable(): void {
    this.secretsDown = false;
    for (const watcher of [...this.secretWatchersWaiting]) {
      this.secretWatchersWaiting.delete(watcher);
      watcher.onChange(this.secrets.get(watcher.key) ?? null);
    }
  }

  /** Creates, replaces (data) or deletes (null) a Secret, notifying its watchers. */
  setSecret(namespace: string, name: string, data: SecretData | null): void {
    const id = key(namespace, name);
    if (data === null) this.secrets.delete(id);
    else this.secrets.set(id, data);
    for (const watcher of this.secretWatchers) if (watcher.key === id) watcher.onChange(data);
  }

  // --- test controls --------------------------------------------------------------------------

  /** The next call of `operation` (optionally only for an object matching `match`) fails once. */
  failNext(operation: FakeOperation, failure: InjectedFailure, match?: (ref: ObjectRef) => boolean): void {
    this.failures.push({ operation, failure, match });
  }

  /** Every patch of an object matching `match` fails with `code` (an admission policy) until the returned lift(). */
  denyPatches(match: (ref: ObjectRef) => boolean, code = 403): () => void {
    const denial = { match, code };
    this.denials.push(denial);
    return () => {
      const index = this.denials.indexOf(denial);
      if (index >= 0) this.denials.splice(index, 1);
    };
  }

  /**
   * The N-th write from now (1-based) and every later one throw SimulatedCrash without being applied (the
   * agent died there); earlier writes stay applied. `revive()` is the agent restarted.
   */
  crashAfterWrites(n: number): void {
    this.crashAtWrite = n;
    this.writeCount = 0;
  }

  clearWrites(): void {
    this.writes.length = 0;
    this.events.length = 0;
  }

  addNamespace(
    name: string,
    annotations: Record<string, string> = {},
    labels: Record<string, string> = {},
  ): void {
    this.namespaces.set(name, { meta: this.newMeta("", name, annotations, labels) });
    this.notify("namespaces", "added", "Namespace", "", name, labels);
  }

  addControlPlane(seed: ControlPlaneSeed): ControlPlane {
    const kind = seed.kind ?? "StatefulSet";
    if (!this.namespaces.has(seed.namespace)) this.addNamespace(seed.namespace);
    const replicas = seed.replicas ?? 1;
    const labels = { app: "vcluster", release: seed.release };
    const plane: Mutable<ControlPlane> = {
      kind,
      meta: this.newMeta(seed.namespace, seed.release, seed.annotations ?? {}, labels),
      release: seed.release,
      replicas,
      statusReplicas: replicas,
      readyReplicas: replicas,
      hasVolumeClaimTemplates: kind === "StatefulSet" && (seed.volumeClaims ?? true),
    };
    this.controlPlanes.set(key(seed.namespace, seed.release), plane);
    this.addPod(seed.namespace, `${seed.release}-0`, labels, { cpu: "200m", memory: "256Mi" });
    this.notify("controlPlanes", "added", kind, seed.namespace, seed.release, labels);
    return structuredClone(plane);
  }

  addWorkload(namespace: string, kind: WorkloadKind, name: string, seed: WorkloadSeed = {}): void {
    if (!this.namespaces.has(namespace)) this.addNamespace(namespace);
    const scalable = kind === "Deployment" || kind === "StatefulSet";
    const replicas = scalable ? (seed.replicas ?? 1) : null;
    this.workloads.set(this.workloadKey(kind, namespace, name), {
      kind,
      meta: this.newMeta(namespace, name, seed.annotations ?? {}, seed.labels ?? {}),
      replicas,
      readyReplicas: replicas,
      suspend: kind === "CronJob" ? (seed.suspend ?? false) : null,
      scaleTarget: kind === "ScaledObject" ? (seed.scaleTarget ?? { kind: "Deployment", name }) : null,
      specFingerprint: seed.template ?? "v1",
    });
    this.notify("workloads", "added", kind, namespace, name, seed.labels ?? {});
    if (kind === "ScaledObject") this.kedaReconcile(namespace, name);
  }

  /** The namespace is deleted with everything in it (a preview environment torn down). */
  deleteNamespace(name: string): void {
    for (const [id, w] of [...this.workloads]) {
      if (w.meta.namespace !== name) continue;
      this.workloads.delete(id);
      this.notify("workloads", "deleted", w.kind, name, w.meta.name, {});
    }
    for (const [id, pod] of [...this.pods]) if (pod.metadata?.namespace === name) this.pods.delete(id);
    for (const [id, plane] of [...this.controlPlanes]) {
      if (plane.meta.namespace !== name) continue;
      this.controlPlanes.delete(id);
      this.notify("controlPlanes", "deleted", plane.kind, name, plane.meta.name, plane.meta.labels);
    }
    this.namespaces.delete(name);
    this.notify("namespaces", "deleted", "Namespace", "", name, {});
  }

  /** Someone deletes a workload (e.g. a ScaledObject while asleep): KEDA leaves its target as it is. */
  deleteWorkload(namespace: string, kind: WorkloadKind, name: string): void {
    this.workloads.delete(this.workloadKey(kind, namespace, name));
    this.notify("workloads", "deleted", kind, namespace, name, {});
  }

  /** A person or pipeline changes spec.template (a deploy): generation and fingerprint change. */
  deploy(namespace: string, kind: WorkloadKind, name: string, template: string): void {
    const workload = this.workloads.get(this.workloadKey(kind, namespace, name));
    if (!workload) throw new Error(`no ${kind} ${namespace}/${name} in the fake`);
    workload.specFingerprint = template;
    workload.meta.generation++;
    workload.meta.resourceVersion = String(this.resourceVersion++);
    this.notify("workloads", "modified", kind, namespace, name, workload.meta.labels);
  }

  /**
   * An autoscaler (HPA, or KEDA's HPA) sets spec.replicas through the scale subresource: generation
   * changes, the spec without replicas does not. Refused (as KEDA would not scale) while a
   * ScaledObject driving it is paused.
   */
  autoscale(namespace: string, kind: "Deployment" | "StatefulSet", name: string, replicas: number): void {
    const paused = [...this.workloads.values()].some(
      (w) =>
        w.kind === "ScaledObject" &&
        w.meta.namespace === namespace &&
        w.scaleTarget?.kind === kind &&
        w.scaleTarget.name === name &&
        kedaPause(w.meta.annotations) !== "active",
    );
    if (paused) return;
    this.setScale(namespace, kind, name, replicas);
  }

  /**
   * KEDA's documented pause semantics (keda-docs "Pause autoscaling"): `paused-replicas: N` scales the
   * target to N and pauses; `paused: "true"` pauses at the current count; with both, paused-replicas
   * wins; with neither (or `paused: "false"`) KEDA autoscales again. Applied whenever the ScaledObject
   * changes, as KEDA's operator reconciles it on annotation changes.
   */
  private kedaReconcile(namespace: string, name: string): void {
    const so = this.workloads.get(this.workloadKey("ScaledObject", namespace, name));
    if (!so?.scaleTarget) return;
    const pause = kedaPause(so.meta.annotations);
    if (typeof pause === "number") {
      const kind = so.scaleTarget.kind === "StatefulSet" ? "StatefulSet" : "Deployment";
      this.setScale(namespace, kind, so.scaleTarget.name, pause);
    }
  }

  private setScale(
    namespace: string,
    kind: "Deployment" | "StatefulSet",
    name: string,
    replicas: number,
  ): void {
    const target = this.workloads.get(this.workloadKey(kind, namespace, name));
    if (!target || target.replicas === replicas) return;
    target.replicas = replicas;
    target.readyReplicas = replicas;
    target.meta.generation++;
    target.meta.resourceVersion = String(this.resourceVersion++);
    this.notify("workloads", "modified", kind, namespace, name, target.meta.labels);
  }

  addPod(
    namespace: string,
    name: string,
    labels: Record<string, string>,
    requests: { cpu: string; memory: string },
    extra: { owner?: { kind: string; name: string }; phase?: string } = {},
  ): void {
    const owner = extra.owner;
    this.pods.set(key(namespace, name), {
      metadata: {
        namespace,
        name,
        labels,
        uid: `pod-uid-${this.uid++}`,
        ...(owner
          ? {
              ownerReferences: [
                { apiVersion: "apps/v1", kind: owner.kind, name: owner.name, uid: "x", controller: true },
              ],
            }
          : {}),
      },
      spec: { containers: [{ name: "main", resources: { requests } }] },
      ...(extra.phase ? { status: { phase: extra.phase } } : {}),
    });
  }

  /** A pod's status changes (kwok marking it Ready): no spec, no identity change. */
  setPodPhase(namespace: string, name: string, phase: string): void {
    const pod = this.pods.get(key(namespace, name));
    if (pod) pod.status = { ...pod.status, phase };
  }

  removePod(namespace: string, name: string): void {
    this.pods.delete(key(namespace, name));
  }

  setVclusterConfig(namespace: string, release: string, yaml: string): void {
    this.vclusterConfigs.set(key(namespace, release), yaml);
  }

  /** Someone else (GitOps, a person, `vcluster resume`) changes an object: not recorded as our write. */
  externalPatch(ref: ObjectRef, patch: ObjectPatch): void {
    this.applyPatch(ref, patch);
  }

  setReady(namespace: string, name: string, readyReplicas: number): void {
    const plane = this.controlPlanes.get(key(namespace, name));
    if (plane) plane.readyReplicas = readyReplicas;
    for (const kind of ["Deployment", "StatefulSet"] as const) {
      const workload = this.workloads.get(this.workloadKey(kind, namespace, name));
      if (workload) workload.readyReplicas = readyReplicas;
    }
  }

  controlPlane(namespace: string, release: string): ControlPlane {
    const plane = this.controlPlanes.get(key(namespace, release));
    if (!plane) throw new Error(`no control plane ${namespace}/${release} in the fake`);
    return structuredClone(plane);
  }

  workload(namespace: string, kind: WorkloadKind, name: string): Workload {
    const workload = this.workloads.get(this.workloadKey(kind, namespace, name));
    if (!workload) throw new Error(`no ${kind} ${namespace}/${name} in the fake`);
    return structuredClone(workload);
  }

  namespace(name: string): NamespaceObject {
    const ns = this.namespaces.get(name);
    if (!ns) throw new Error(`no Namespace ${name} in the fake`);
    return structuredClone(ns);
  }

  // --- KubeClient -----------------------------------------------------------------------------

  async listControlPlanes(): Promise<ControlPlane[]> {
    this.maybeFail("listControlPlanes");
    return [...this.controlPlanes.values()].map((p) => structuredClone(p));
  }

  async getControlPlane(namespace: string, release: string): Promise<ControlPlane | null> {
    this.maybeFail("getControlPlane", { kind: "StatefulSet", namespace, name: release });
    const plane = this.controlPlanes.get(key(namespace, release));
    return plane ? structuredClone(plane) : null;
  }

  async listNamespaces(labelSelector?: string): Promise<NamespaceObject[]> {
    this.maybeFail("listNamespaces");
    const wanted = parseSelector(labelSelector);
    return [...this.namespaces.values()]
      .filter((n) => Object.entries(wanted).every(([k, v]) => n.meta.labels[k] === v))
      .map((n) => structuredClone(n));
  }

  async getNamespace(name: string): Promise<NamespaceObject | null> {
    this.maybeFail("getNamespace", { kind: "Namespace", namespace: name, name });
    const ns = this.namespaces.get(name);
    return ns ? structuredClone(ns) : null;
  }

  async listWorkloads(namespace: string): Promise<Workload[]> {
    this.maybeFail("listWorkloads", { kind: "Namespace", namespace, name: namespace });
    // As the API server lists them: a vcluster control plane is one of the namespace's StatefulSets/Deployments.
    const planes: Workload[] = [...this.controlPlanes.values()]
      .filter((p) => p.meta.namespace === namespace)
      .map((p) => ({
        kind: p.kind,
        meta: p.meta,
        replicas: p.replicas,
        readyReplicas: p.readyReplicas,
        suspend: null,
        scaleTarget: null,
        specFingerprint: "control-plane",
      }));
    return [...this.workloads.values()]
      .filter((w) => w.meta.namespace === namespace)
      .concat(planes)
      .map((w) => structuredClone(w));
  }

  async listPods(namespace: string, labelSelector?: string): Promise<V1Pod[]> {
    this.maybeFail("listPods", { kind: "Namespace", namespace, name: namespace });
    const wanted = parseSelector(labelSelector);
    return [...this.pods.values()]
      .filter((p) => p.metadata?.namespace === namespace)
      .filter((p) => Object.entries(wanted).every(([k, v]) => p.metadata?.labels?.[k] === v))
      .map((p) => structuredClone(p));
  }

  async listCompanions(namespace: string, release: string): Promise<Workload[]> {
    this.maybeFail("listCompanions", { kind: "Deployment", namespace, name: release });
    const companion = (w: Workload) =>
      w.meta.namespace === namespace &&
      w.meta.labels.release === release &&
      ((w.kind === "StatefulSet" && w.meta.labels.app === "vcluster-etcd") ||
        (w.kind === "Deployment" &&
          (w.meta.labels.app === "vcluster-api" || w.meta.labels.app === "vcluster-controller")));
    return [...this.workloads.values()].filter(companion).map((w) => structuredClone(w));
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    this.maybeFail("deletePod", { kind: "Deployment", namespace, name });
    this.countWrite(`Pod ${namespace}/${name}`);
    this.writes.push({ operation: "deletePod", ref: { kind: "Pod", namespace, name } });
    this.pods.delete(key(namespace, name));
  }

  async readVclusterConfig(namespace: string, release: string): Promise<string | null> {
    this.maybeFail("readVclusterConfig", { kind: "StatefulSet", namespace, name: release });
    return this.vclusterConfigs.get(key(namespace, release)) ?? null;
  }

  async readSecret(namespace: string, name: string): Promise<SecretData | null> {
    this.maybeFail("readSecret");
    this.secretReads++;
    return this.secrets.get(key(namespace, name)) ?? null;
  }

  async createSecret(namespace: string, name: string, data: SecretData): Promise<"created" | "exists"> {
    this.maybeFail("createSecret");
    if (this.secrets.has(key(namespace, name))) return "exists";
    this.setSecret(namespace, name, data);
    return "created";
  }

  watchSecret(namespace: string, name: string, onChange: (data: SecretData | null) => void): WatchHandle {
    const watcher = { key: key(namespace, name), onChange };
    this.secretWatchers.add(watcher);
    this.secretReads++;
    if (this.secretsDown) this.secretWatchersWaiting.add(watcher);
    else onChange(this.secrets.get(watcher.key) ?? null);
    return {
      synced: Promise.resolve(),
      stop: async () => {
        this.secretWatchers.delete(watcher);
        this.secretWatchersWaiting.delete(watcher);
      },
    };
  }

  async patch(ref: ObjectRef, patch: ObjectPatch): Promise<ObjectMeta> {
    this.maybeFail("patch", ref);
    this.countWrite(describeRef(ref));
    const meta = this.applyPatch(ref, patch);
    this.writes.push({ operation: "patch", ref: { ...ref }, patch: structuredClone(patch) });
    return meta;
  }

  async recordEvent(event: EventSpec): Promise<void> {
    this.maybeFail("recordEvent", event.regarding);
    this.events.push(structuredClone(event));
  }

  watch(resource: WatchedResource, onEvent: (event: WatchEvent) => void): WatchHandle {
    const listener = (event: WatchEvent) => {
      if (event.resource === resource) onEvent(event);
    };
    this.watchers.add(listener);
    return {
      synced: Promise.resolve(),
      stop: async () => {
        this.watchers.delete(listener);
      },
    };
  }

  // --- internals ------------------------------------------------------------------------------

  private workloadKey(kind: string, namespace: string, name: string): string {
    return `${kind}/${namespace}/${name}`;
  }

  private newMeta(
    namespace: string,
    name: string,
    annotations: Record<string, string>,
    labels: Record<string, string>,
  ): Mutable<ObjectMeta> {
    return {
      namespace,
      name,
      uid: `uid-${this.uid++}`,
      resourceVersion: String(this.resourceVersion++),
      generation: 1,
      labels: { ...labels },
      annotations: { ...annotations },
    };
  }

  private maybeFail(operation: FakeOperation, ref?: ObjectRef): void {
    const denial =
      operation === "patch" && ref !== undefined ? this.denials.find((d) => d.match(ref)) : undefined;
    if (denial && ref)
      throw new KubeError(operation, describeRef(ref), denial.code, "denied by admission policy (injected)");
    const index = this.failures.findIndex(
      (f) => f.operation === operation && (!f.match || (ref !== undefined && f.match(ref))),
    );
    if (index < 0) return;
    const [failure] = this.failures.splice(index, 1);
    const object = ref ? describeRef(ref) : operation;
    if (failure?.failure === "timeout")
      throw new KubeError(operation, object, undefined, "request timed out (injected)");
    throw new KubeError(operation, object, failure?.failure, "injected failure");
  }

  private countWrite(object: string): void {
    if (this.crashAtWrite === null) return;
    this.writeCount++;
    // The process is dead from the N-th write on: writes of the same wave still in flight fail too.
    if (this.writeCount >= this.crashAtWrite)
      throw new SimulatedCrash(`crash before write #${this.writeCount} (${object})`);
  }

  /** A new agent process over the state the crashed one left: writes go through again. */
  revive(): void {
    this.crashAtWrite = null;
  }

  private target(ref: ObjectRef): {
    meta: Mutable<ObjectMeta>;
    object: Mutable<ControlPlane> | Mutable<Workload> | null;
  } {
    if (ref.kind === "Namespace") {
      const ns = this.namespaces.get(ref.name);
      if (ns) return { meta: ns.meta, object: null };
    } else {
      const plane = this.controlPlanes.get(key(ref.namespace, ref.name));
      if (plane && plane.kind === ref.kind) return { meta: plane.meta, object: plane };
      const workload = this.workloads.get(this.workloadKey(ref.kind, ref.namespace, ref.name));
      if (workload) return { meta: workload.meta, object: workload };
    }
    throw new KubeError("patch", describeRef(ref), 404, "not found");
  }

  private applyPatch(ref: ObjectRef, patch: ObjectPatch): ObjectMeta {
    const { meta, object } = this.target(ref);
    if (patch.resourceVersion !== undefined && patch.resourceVersion !== meta.resourceVersion) {
      throw new KubeError(
        "patch",
        describeRef(ref),
        409,
        "the object has been modified; please apply your changes to the latest version",
      );
    }
    for (const [name, value] of Object.entries(patch.annotations ?? {})) {
      if (value === null) delete meta.annotations[name];
      else meta.annotations[name] = value;
    }
    if (patch.replicas !== undefined) {
      if (!object || object.replicas === null)
        throw new KubeError("patch", describeRef(ref), 422, "spec.replicas not supported");
      if (object.replicas !== patch.replicas) meta.generation++;
      object.replicas = patch.replicas;
      if ("statusReplicas" in object) object.statusReplicas = patch.replicas;
      if (this.autoReady || patch.replicas === 0) object.readyReplicas = patch.replicas;
    }
    if (patch.suspend !== undefined) {
      if (!object || !("suspend" in object) || object.suspend === null) {
        throw new KubeError("patch", describeRef(ref), 422, "spec.suspend not supported");
      }
      if (object.suspend !== patch.suspend) meta.generation++;
      object.suspend = patch.suspend;
    }
    meta.resourceVersion = String(this.resourceVersion++);
    if (ref.kind === "ScaledObject") this.kedaReconcile(ref.namespace, ref.name);
    const resource: WatchedResource =
      ref.kind === "Namespace" ? "namespaces" : object && "release" in object ? "controlPlanes" : "workloads";
    this.notify(resource, "modified", ref.kind, meta.namespace, meta.name, meta.labels);
    return structuredClone(meta);
  }

  private notify(
    resource: WatchedResource,
    type: WatchEvent["type"],
    kind: WatchEvent["kind"],
    namespace: string,
    name: string,
    labels: Readonly<Record<string, string>>,
  ): void {
    for (const watcher of this.watchers)
      watcher({ resource, type, kind, namespace, name, labels: { ...labels } });
  }
}

/** A ScaledObject's pause state by KEDA's rules: a count to hold the target at, "hold" (current count), or "active". */
function kedaPause(annotations: Readonly<Record<string, string>>): number | "hold" | "active" {
  const replicas = annotations["autoscaling.keda.sh/paused-replicas"];
  if (replicas !== undefined) {
    const n = Number(replicas);
    if (Number.isInteger(n) && n >= 0) return n;
  }
  return annotations["autoscaling.keda.sh/paused"] === "true" ? "hold" : "active";
}

function parseSelector(selector: string | undefined): Record<string, string> {
  if (!selector) return {};
  return Object.fromEntries(
    selector.split(",").map((term) => {
      const [k, v] = term.split("=");
      return [k ?? "", v ?? ""];
    }),
  );
}
