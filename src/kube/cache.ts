// The agent's read path: informer-fed, stripped, in-memory stores under the narrow KubeClient interface.
// The reconciler keeps calling the same methods; once the informers have synced, reads are answered from
// memory with no API call, writes pass through and update the stores from their responses
// (read-your-writes), and the reconciler's watch() subscriptions are fed from the same informers.
//
// Topology: ONE cluster-wide watch per kind — Namespaces, Deployments, StatefulSets, CronJobs, Pods,
// Secrets, and ScaledObjects where KEDA is installed — whose events are dropped for namespaces that are not
// needed. The alternative, a watch per kind per needed namespace, costs an HTTP/1.1 connection each:
// measured on the local control plane (client-node Watch, Node 24), 200 concurrent namespaced Pod watches
// added 45 MB RSS (~230 kB each), so 4-5 kinds × 500 managed namespaces would be ~2,500 connections and
// ~0.5 GB, against 7 connections here. The price of one connection per kind is that the wire still
// carries changes in unneeded namespaces; the cache parses and drops them (CPU only while things change).
//
// What is kept:
// - every Namespace and every control plane (`app=vcluster` StatefulSet/Deployment), metadata only;
// - workloads and pods only for namespaces the agent reads (a namespace target it manages, a vcluster's
//   host namespace). The first read of a namespace LISTs it once ("tracks" it); from then on the
//   cluster-wide watch keeps it current. A namespace that is deleted, or not read for `idleMs` (it became
//   unmanaged), is dropped with everything held for it;
// - of Secrets, only `config.yaml` of `vc-config-*` Secrets, decoded. Nothing else of any Secret is stored.
//   Kubernetes cannot restrict a Secret LIST/WATCH by name prefix (field selectors know metadata.name and
//   type only; vcluster's chart sets no dedicated label), so this needs list/watch on Secrets — see
//   deploy/base/rbac.yaml. The alternative, a watch per vcluster with fieldSelector metadata.name=vc-config-NAME,
//   needs the same RBAC (resourceNames cannot name Secrets not created yet) and a socket per vcluster.
//
// Versions: Kubernetes 1.35+ makes resourceVersions of built-in kinds comparable integers (KEP-5504); the
// stores keep the newer of two versions so a write's response and a late watch event cannot undo each other.
import type { KubeConfig, V1Deployment, V1Pod, V1StatefulSet } from "@kubernetes/client-node";
import type { Logger } from "pino";
import {
  COMPANION_LABEL,
  DEPLOYMENT_COMPANION_APPS,
  ETCD_APP,
  normalizeControlPlane,
  normalizeCronJob,
  normalizeScalable,
  normalizeScaledObject,
  type ScaledObjectResource,
} from "./client.js";
import { Informer, type InformerOptions, type InformerSink } from "./informer.js";
import { ApiServerListWatch, type CachedKind, type ListWatchSource, type RawObject } from "./listwatch.js";
import { currentSlotSequence, isNewer, NamespacedStore, parseSelector, Slot } from "./store.js";
import { secretConfigYaml, stripMeta, stripPod, VC_CONFIG_PREFIX } from "./strip.js";
import type {
  ControlPlane,
  ControlPlaneKind,
  KubeClient,
  NamespaceObject,
  ObjectMeta,
  ObjectPatch,
  ObjectRef,
  WatchEvent,
  WatchedResource,
  WatchHandle,
  Workload,
  WorkloadKind,
} from "./types.js";

/** A namespace whose workloads or pods have not been read for this long is dropped from the cache. */
export const DEFAULT_IDLE_MS = 10 * 60_000;
const CONTROL_PLANE_LABEL = { key: "app", value: "vcluster" } as const;
const WORKLOAD_ORDER: readonly WorkloadKind[] = ["Deployment", "StatefulSet", "CronJob", "ScaledObject"];

const hasControlPlaneLabel = (obj: RawObject): boolean =>
  obj.metadata?.labels?.[CONTROL_PLANE_LABEL.key] === CONTROL_PLANE_LABEL.value;

export interface CacheSizes {
  namespaces: number;
  controlPlanes: number;
  vclusterConfigs: number;
  workloadNamespaces: number;
  workloads: number;
  podNamespaces: number;
  pods: number;
}

export interface CachedKubeClientOptions {
  /** The real client: writes, Events, and reads the cache cannot (yet) answer go to it. */
  inner: KubeClient;
  source: ListWatchSource;
  logger: Logger;
  idleMs?: number;
  now?: () => number;
  /** Informer tuning (backoff, page size, watch timeout), for tests. */
  informer?: Partial<Omit<InformerOptions, "kind" | "source" | "sink" | "logger">>;
}

/** The KubeClient methods the cache answers (reads) or wraps (writes, watch); all others pass through. */
export const CACHED_METHODS = [
  "listControlPlanes",
  "getControlPlane",
  "listNamespaces",
  "getNamespace",
  "listWorkloads",
  "listPods",
  "listCompanions",
  "deletePod",
  "readVclusterConfig",
  "patch",
  "recordEvent",
  "watch",
] as const satisfies readonly (keyof KubeClient)[];

type ControlPlaneKey = `${ControlPlaneKind}/${string}`;

/**
 * `KubeClient` with an in-memory read path. Reads go to memory once the kind's informer has synced and
 * while it is healthy; before that, or while it is retrying after an error, they go to `inner` unchanged.
 * Methods it does not cache are reached through `cachedKubeClient()`, which forwards them to `inner`.
 */
export class CachedKubeClient implements Pick<KubeClient, (typeof CACHED_METHODS)[number]> {
  private readonly inner: KubeClient;
  private readonly source: ListWatchSource;
  private readonly logger: Logger;
  private readonly idleMs: number;
  private readonly now: () => number;
  private readonly informerOptions: CachedKubeClientOptions["informer"];

  private readonly namespaces = new Map<string, NamespaceObject>();
  /** By namespace, then `KIND/NAME`. */
  private readonly controlPlanes = new Map<string, Map<ControlPlaneKey, ControlPlane>>();
  /** `config.yaml` of `vc-config-RELEASE`, by namespace then release. */
  private readonly configs = new Map<string, Map<string, string>>();
  /** By namespace, then `KIND/NAME`. */
  private readonly workloads = new NamespacedStore<Workload>((w) => w.meta.resourceVersion);
  private readonly pods = new NamespacedStore<V1Pod>((p) => p.metadata?.resourceVersion ?? "");

  private readonly informers = new Map<CachedKind, Informer>();
  private kedaAbsent = false;
  private readonly subscribers: Record<WatchedResource, Set<(event: WatchEvent) => void>> = {
    controlPlanes: new Set(),
    namespaces: new Set(),
    workloads: new Set(),
  };
  private subscriptions = 0;
  private started = false;
  private sweepTimer: NodeJS.Timeout | null = null;
  private syncedPromise: Promise<void> | null = null;

  constructor(options: CachedKubeClientOptions) {
    this.inner = options.inner;
    this.source = options.source;
    this.logger = options.logger;
    this.idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    this.now = options.now ?? Date.now;
    this.informerOptions = options.informer;
  }

  // --- lifecycle ---------------------------------------------------------------------------------

  /** Starts one informer per kind (idempotent); `synced` resolves once every one has listed. */
  start(): Promise<void> {
    if (this.started && this.syncedPromise) return this.syncedPromise;
    this.started = true;
    const kinds: CachedKind[] = [
      "Namespace",
      "Deployment",
      "StatefulSet",
      "CronJob",
      "ScaledObject",
      "Pod",
      "Secret",
    ];
    for (const kind of kinds) {
      const informer = new Informer({
        ...this.informerOptions,
        kind,
        source: this.source,
        sink: this.sinkFor(kind),
        logger: this.logger,
        optional: kind === "ScaledObject",
        // Without list/watch on Secrets (an older deploy/base/rbac.yaml) vc-config is read by name, as before.
        forbiddenIsAbsent: kind === "Secret",
        // Secrets can be large (Helm release records): smaller pages bound the memory a LIST takes.
        ...(kind === "Secret" ? { pageSize: Math.min(this.informerOptions?.pageSize ?? 100, 100) } : {}),
      });
      this.informers.set(kind, informer);
      informer.start();
    }
    this.sweepTimer = setInterval(() => this.sweep(), Math.max(1_000, Math.floor(this.idleMs / 2)));
    this.sweepTimer.unref?.();
    this.syncedPromise = Promise.all([...this.informers.values()].map((i) => i.synced)).then(() => {
      this.logger.info({ ...this.sizes() }, "cache synced");
    });
    return this.syncedPromise;
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    const informers = [...this.informers.values()];
    this.informers.clear();
    this.started = false;
    this.syncedPromise = null;
    await Promise.all(informers.map((i) => i.stop()));
  }

  /** Drops the namespaces whose workloads or pods nobody read for `idleMs`. */
  sweep(): void {
    const cutoff = this.now() - this.idleMs;
    for (const store of [this.workloads, this.pods] as NamespacedStore<unknown>[]) {
      for (const [namespace, slot] of store.slots) if (slot.lastRead < cutoff) store.slots.delete(namespace);
    }
  }

  sizes(): CacheSizes {
    let controlPlanes = 0;
    for (const m of this.controlPlanes.values()) controlPlanes += m.size;
    let vclusterConfigs = 0;
    for (const m of this.configs.values()) vclusterConfigs += m.size;
    return {
      namespaces: this.namespaces.size,
      controlPlanes,
      vclusterConfigs,
      workloadNamespaces: this.workloads.slots.size,
      workloads: this.workloads.size(),
      podNamespaces: this.pods.slots.size,
      pods: this.pods.size(),
    };
  }

  /** Every map the cache holds, with its size: for the memory tests, which expect all back to baseline. */
  mapSizes(): Record<string, number> {
    return {
      namespaces: this.namespaces.size,
      controlPlaneNamespaces: this.controlPlanes.size,
      configNamespaces: this.configs.size,
      workloadSlots: this.workloads.slots.size,
      podSlots: this.pods.slots.size,
      subscribers: Object.values(this.subscribers).reduce((n, s) => n + s.size, 0),
    };
  }

  /** A served read needs the kind's informer synced and healthy (not retrying after an error). */
  private serving(...kinds: CachedKind[]): boolean {
    return kinds.every((kind) => {
      const informer = this.informers.get(kind);
      // An absent ScaledObject kind is served (there are none); an absent (forbidden) Secret list is not.
      return (
        informer !== undefined &&
        informer.lists > 0 &&
        informer.healthy &&
        !(informer.absent && kind !== "ScaledObject")
      );
    });
  }

  // --- reads -------------------------------------------------------------------------------------

  async listControlPlanes(): Promise<ControlPlane[]> {
    if (!this.serving("StatefulSet", "Deployment")) return this.inner.listControlPlanes();
    const all = [...this.controlPlanes.values()].flatMap((m) => [...m.values()]);
    // Like the API: StatefulSets first, then Deployments, each by namespace and name.
    return all.sort(
      (a, b) =>
        (a.kind === b.kind ? 0 : a.kind === "StatefulSet" ? -1 : 1) ||
        a.meta.namespace.localeCompare(b.meta.namespace) ||
        a.meta.name.localeCompare(b.meta.name),
    );
  }

  async getControlPlane(namespace: string, release: string): Promise<ControlPlane | null> {
    if (!this.serving("StatefulSet", "Deployment")) return this.inner.getControlPlane(namespace, release);
    const inNamespace = [...(this.controlPlanes.get(namespace)?.values() ?? [])].filter(
      (p) => p.meta.labels.release === release,
    );
    const byName = (a: ControlPlane, b: ControlPlane) => a.meta.name.localeCompare(b.meta.name);
    return (
      inNamespace.filter((p) => p.kind === "StatefulSet").sort(byName)[0] ??
      inNamespace.filter((p) => p.kind === "Deployment").sort(byName)[0] ??
      null
    );
  }

  async listNamespaces(labelSelector?: string): Promise<NamespaceObject[]> {
    const matches = labelSelector ? parseSelector(labelSelector) : () => true;
    if (!this.serving("Namespace") || matches === null) return this.inner.listNamespaces(labelSelector);
    return [...this.namespaces.values()]
      .filter((ns) => matches(ns.meta.labels))
      .sort((a, b) => a.meta.name.localeCompare(b.meta.name));
  }

  async getNamespace(name: string): Promise<NamespaceObject | null> {
    if (!this.serving("Namespace")) return this.inner.getNamespace(name);
    return this.namespaces.get(name) ?? null;
  }

  async listWorkloads(namespace: string): Promise<Workload[]> {
    const kinds: CachedKind[] = ["Deployment", "StatefulSet", "CronJob", "ScaledObject", "Namespace"];
    if (!this.serving(...kinds)) return this.inner.listWorkloads(namespace);
    if (!this.namespaces.has(namespace)) return [];
    const slot = await this.track(this.workloads, namespace, (ns) => this.fillWorkloads(ns));
    return [...slot.objects.values()].sort(
      (a, b) =>
        WORKLOAD_ORDER.indexOf(a.kind) - WORKLOAD_ORDER.indexOf(b.kind) ||
        a.meta.name.localeCompare(b.meta.name),
    );
  }

  async listPods(namespace: string, labelSelector?: string): Promise<V1Pod[]> {
    const matches = labelSelector ? parseSelector(labelSelector) : () => true;
    if (!this.serving("Pod", "Namespace") || matches === null)
      return this.inner.listPods(namespace, labelSelector);
    if (!this.namespaces.has(namespace)) return [];
    const slot = await this.track(this.pods, namespace, (ns) => this.fillPods(ns));
    return [...slot.objects.values()]
      .filter((p) => matches(p.metadata?.labels ?? {}))
      .sort((a, b) => (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""));
  }

  /**
   * A Deployment control plane's etcd StatefulSet and api/controller Deployments (labels as the client's
   * selector), from the host namespace's tracked workloads: no LIST per pass.
   */
  async listCompanions(namespace: string, release: string): Promise<Workload[]> {
    if (!this.serving("Deployment", "StatefulSet", "CronJob", "ScaledObject", "Namespace"))
      return this.inner.listCompanions(namespace, release);
    const companion = (w: Workload): boolean => {
      const app = w.meta.labels[COMPANION_LABEL] ?? "";
      return (
        w.meta.labels.release === release &&
        ((w.kind === "StatefulSet" && app === ETCD_APP) ||
          (w.kind === "Deployment" && DEPLOYMENT_COMPANION_APPS.includes(app)))
      );
    };
    const workloads = await this.listWorkloads(namespace);
    // As the client returns them: StatefulSets, then Deployments.
    return [
      ...workloads.filter((w) => w.kind === "StatefulSet" && companion(w)),
      ...workloads.filter((w) => w.kind === "Deployment" && companion(w)),
    ];
  }

  async readVclusterConfig(namespace: string, release: string): Promise<string | null> {
    if (!this.serving("Secret")) return this.inner.readVclusterConfig(namespace, release);
    return this.configs.get(namespace)?.get(release) ?? null;
  }

  /** The namespace's slot, LISTing it once when it is not tracked yet; concurrent readers share that LIST. */
  private async track<T>(
    store: NamespacedStore<T>,
    namespace: string,
    fill: (namespace: string) => Promise<void>,
  ): Promise<Slot<T>> {
    let slot = store.slots.get(namespace);
    if (!slot) {
      const created = new Slot<T>(this.now());
      store.slots.set(namespace, created);
      created.ready = fill(namespace).then(
        () => {
          created.tombstones = null;
        },
        (err: unknown) => {
          if (store.slots.get(namespace) === created) store.slots.delete(namespace);
          throw err;
        },
      );
      slot = created;
    }
    slot.lastRead = this.now();
    await slot.ready;
    return slot;
  }

  private async fillWorkloads(namespace: string): Promise<void> {
    const kinds: WorkloadKind[] = ["Deployment", "StatefulSet", "CronJob"];
    if (!this.kedaAbsent) kinds.push("ScaledObject");
    await Promise.all(
      kinds.map((kind) =>
        this.listNamespace(kind, namespace, (obj) =>
          this.workloads.upsert(namespace, keyOf(kind, obj), toWorkload(kind, obj)),
        ),
      ),
    );
  }

  private async fillPods(namespace: string): Promise<void> {
    await this.listNamespace("Pod", namespace, (obj) =>
      this.pods.upsert(namespace, obj.metadata?.name ?? "", stripPod(obj)),
    );
  }

  private async listNamespace(
    kind: CachedKind,
    namespace: string,
    each: (obj: RawObject) => void,
  ): Promise<void> {
    let cont: string | undefined;
    do {
      const page = await this.source.list(kind, {
        namespace,
        limit: 500,
        ...(cont ? { continue: cont } : {}),
      });
      for (const item of page.items) each(item);
      cont = page.continue;
    } while (cont);
  }

  // --- writes: pass through, then read-your-writes -------------------------------------------------

  async patch(ref: ObjectRef, patch: ObjectPatch): Promise<ObjectMeta> {
    const written = await this.inner.patch(ref, patch);
    this.applyWrite(ref, patch, stripMeta(written));
    return written;
  }

  private applyWrite(ref: ObjectRef, patch: ObjectPatch, meta: ObjectMeta): void {
    if (ref.kind === "Namespace") {
      const existing = this.namespaces.get(ref.name);
      if (!existing || isNewer(meta.resourceVersion, existing.meta.resourceVersion))
        this.namespaces.set(ref.name, { meta });
      return;
    }
    if (ref.kind === "Deployment" || ref.kind === "StatefulSet") {
      const planes = this.controlPlanes.get(ref.namespace);
      const key: ControlPlaneKey = `${ref.kind}/${ref.name}`;
      const plane = planes?.get(key);
      if (planes && plane && isNewer(meta.resourceVersion, plane.meta.resourceVersion)) {
        planes.set(key, {
          ...plane,
          meta,
          release: meta.labels.release ?? meta.name,
          replicas: patch.replicas ?? plane.replicas,
        });
      }
    }
    const key = `${ref.kind}/${ref.name}`;
    const workload = this.workloads.slots.get(ref.namespace)?.objects.get(key);
    if (workload) {
      this.workloads.upsert(ref.namespace, key, {
        ...workload,
        meta,
        replicas: patch.replicas ?? workload.replicas,
        suspend: patch.suspend ?? workload.suspend,
      });
    }
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    await this.inner.deletePod(namespace, name);
    // The pod is Terminating until its DELETED event: mark it so, or the next step would delete it again.
    const slot = this.pods.slots.get(namespace);
    const pod = slot?.objects.get(name);
    if (slot && pod && !pod.metadata?.deletionTimestamp) {
      slot.objects.set(name, {
        ...pod,
        metadata: { ...pod.metadata, deletionTimestamp: new Date(this.now()) },
      });
    }
  }

  recordEvent(...args: Parameters<KubeClient["recordEvent"]>): Promise<void> {
    return this.inner.recordEvent(...args);
  }

  // --- watch: the reconciler's subscriptions, fed from the cache's own informers --------------------

  watch(resource: WatchedResource, onEvent: (event: WatchEvent) => void): WatchHandle {
    const subscribers = this.subscribers[resource];
    subscribers.add(onEvent);
    this.subscriptions++;
    const synced = this.start();
    let stopped = false;
    return {
      synced,
      stop: async () => {
        if (stopped) return;
        stopped = true;
        subscribers.delete(onEvent);
        if (--this.subscriptions === 0) await this.stop();
      },
    };
  }

  private emit(
    resource: WatchedResource,
    type: WatchEvent["type"],
    kind: WatchEvent["kind"],
    obj: RawObject,
  ): void {
    const subscribers = this.subscribers[resource];
    if (subscribers.size === 0) return;
    const event: WatchEvent = {
      resource,
      type,
      kind,
      namespace: obj.metadata?.namespace ?? "",
      name: obj.metadata?.name ?? "",
      labels: obj.metadata?.labels ?? {},
    };
    for (const subscriber of subscribers) {
      try {
        subscriber(event);
      } catch (err) {
        this.logger.error({ err: String(err), resource }, "watch subscriber threw");
      }
    }
  }

  // --- sinks: what each kind's events do to the stores ---------------------------------------------

  private sinkFor(kind: CachedKind): InformerSink {
    switch (kind) {
      case "Namespace":
        return this.namespaceSink();
      case "Deployment":
      case "StatefulSet":
      case "CronJob":
      case "ScaledObject":
        return this.workloadSink(kind);
      case "Pod":
        return this.podSink();
      case "Secret":
        return this.secretSink();
    }
  }

  private namespaceSink(): InformerSink {
    let seen = new Set<string>();
    let initial = true;
    const put = (obj: RawObject, type: WatchEvent["type"] | null) => {
      const name = obj.metadata?.name ?? "";
      const existing = this.namespaces.get(name);
      const meta = stripMeta(obj.metadata);
      if (existing && !isNewer(meta.resourceVersion, existing.meta.resourceVersion)) return;
      this.namespaces.set(name, { meta });
      if (type) this.emit("namespaces", existing ? "modified" : type, "Namespace", obj);
    };
    const drop = (name: string, obj: RawObject) => {
      this.namespaces.delete(name);
      // Everything held for the namespace goes with it.
      this.workloads.slots.delete(name);
      this.pods.slots.delete(name);
      this.configs.delete(name);
      this.controlPlanes.delete(name);
      this.emit("namespaces", "deleted", "Namespace", obj);
    };
    return {
      beginList: () => {
        seen = new Set();
      },
      listed: (obj) => {
        seen.add(obj.metadata?.name ?? "");
        put(obj, initial ? null : "added");
      },
      endList: (version) => {
        for (const [name, ns] of this.namespaces) {
          if (!seen.has(name) && !isNewer(ns.meta.resourceVersion, version))
            drop(name, { metadata: { name, labels: ns.meta.labels as Record<string, string> } });
        }
        seen = new Set();
        initial = false;
      },
      added: (obj) => put(obj, "added"),
      modified: (obj) => put(obj, "modified"),
      deleted: (obj) => drop(obj.metadata?.name ?? "", obj),
    };
  }

  private workloadSink(kind: WorkloadKind): InformerSink {
    const isControlPlaneKind = kind === "Deployment" || kind === "StatefulSet";
    let seen = new Set<string>();
    let listStart = 0;
    let initial = true;
    // `type` null: the first LIST (the reconciler's first pass reads everything anyway). On a relist only
    // what changed is announced; a watch event always is, like the API server's own watch.
    const put = (obj: RawObject, type: WatchEvent["type"] | null, relist = false) => {
      const namespace = obj.metadata?.namespace ?? "";
      const key = keyOf(kind, obj);
      let changed = false;
      if (isControlPlaneKind) changed = this.putControlPlane(kind, obj, type) || changed;
      changed = this.workloads.upsert(namespace, key, toWorkload(kind, obj)) || changed;
      if (type && kind !== "ScaledObject" && (changed || !relist)) this.emit("workloads", type, kind, obj);
    };
    return {
      // Control planes are kept cluster-wide; other kinds only for tracked namespaces, so with none tracked a
      // LIST needs no items, only its resourceVersion to watch from.
      wantsItems: () => isControlPlaneKind || this.workloads.slots.size > 0,
      beginList: () => {
        seen = new Set();
        listStart = currentSlotSequence();
      },
      listed: (obj) => {
        seen.add(`${obj.metadata?.namespace ?? ""}/${keyOf(kind, obj)}`);
        put(obj, initial ? null : "modified", true);
      },
      endList: (version, complete) => {
        if (isControlPlaneKind) {
          for (const [namespace, planes] of this.controlPlanes) {
            for (const [key, plane] of planes) {
              if (plane.kind !== kind || seen.has(`${namespace}/${key}`)) continue;
              if (isNewer(plane.meta.resourceVersion, version)) continue;
              this.removeControlPlane(kind, namespace, plane.meta.name, plane.meta.labels);
            }
          }
        }
        if (complete) this.workloads.sweep(seen, version, listStart, (key) => key.startsWith(`${kind}/`));
        seen = new Set();
        initial = false;
      },
      added: (obj) => put(obj, "added"),
      modified: (obj) => put(obj, "modified"),
      deleted: (obj) => {
        const namespace = obj.metadata?.namespace ?? "";
        if (isControlPlaneKind)
          this.removeControlPlane(kind, namespace, obj.metadata?.name ?? "", obj.metadata?.labels ?? {});
        this.workloads.remove(namespace, keyOf(kind, obj), obj.metadata?.resourceVersion ?? "");
        if (kind !== "ScaledObject") this.emit("workloads", "deleted", kind, obj);
      },
      absent: () => {
        if (!this.kedaAbsent)
          this.logger.info({ crd: "scaledobjects.keda.sh" }, "KEDA not installed; ScaledObjects ignored");
        this.kedaAbsent = true;
        for (const slot of this.workloads.slots.values()) {
          for (const key of slot.objects.keys())
            if (key.startsWith("ScaledObject/")) slot.objects.delete(key);
        }
      },
      ...(kind === "ScaledObject"
        ? {
            beginList: () => {
              seen = new Set();
              listStart = currentSlotSequence();
              this.kedaAbsent = false;
            },
          }
        : {}),
    };
  }

  /** Keeps (or drops, when it lost its `app=vcluster` label) one control plane; true when it changed. */
  private putControlPlane(kind: ControlPlaneKind, obj: RawObject, type: WatchEvent["type"] | null): boolean {
    const namespace = obj.metadata?.namespace ?? "";
    const name = obj.metadata?.name ?? "";
    const key: ControlPlaneKey = `${kind}/${name}`;
    const existing = this.controlPlanes.get(namespace)?.get(key);
    if (!hasControlPlaneLabel(obj)) {
      if (existing) this.removeControlPlane(kind, namespace, name, existing.meta.labels);
      return false;
    }
    const plane: ControlPlane = {
      ...normalizeControlPlane(obj as V1StatefulSet | V1Deployment, kind),
      meta: stripMeta(obj.metadata),
    };
    if (existing && !isNewer(plane.meta.resourceVersion, existing.meta.resourceVersion)) return false;
    let planes = this.controlPlanes.get(namespace);
    if (!planes) {
      planes = new Map();
      this.controlPlanes.set(namespace, planes);
    }
    planes.set(key, plane);
    if (type) this.emit("controlPlanes", existing ? "modified" : "added", kind, obj);
    return true;
  }

  private removeControlPlane(
    kind: ControlPlaneKind,
    namespace: string,
    name: string,
    labels: Readonly<Record<string, string>>,
  ): void {
    const planes = this.controlPlanes.get(namespace);
    if (!planes?.delete(`${kind}/${name}`)) return;
    if (planes.size === 0) this.controlPlanes.delete(namespace);
    this.emit("controlPlanes", "deleted", kind, { metadata: { namespace, name, labels: { ...labels } } });
  }

  private podSink(): InformerSink {
    let seen = new Set<string>();
    let listStart = 0;
    const put = (obj: RawObject) => {
      const namespace = obj.metadata?.namespace ?? "";
      if (!this.pods.slots.has(namespace)) return;
      this.pods.upsert(namespace, obj.metadata?.name ?? "", stripPod(obj));
    };
    return {
      wantsItems: () => this.pods.slots.size > 0,
      beginList: () => {
        seen = new Set();
        listStart = currentSlotSequence();
      },
      listed: (obj) => {
        if (this.pods.slots.has(obj.metadata?.namespace ?? ""))
          seen.add(`${obj.metadata?.namespace}/${obj.metadata?.name}`);
        put(obj);
      },
      endList: (version, complete) => {
        if (complete) this.pods.sweep(seen, version, listStart, () => true);
        seen = new Set();
      },
      added: put,
      modified: put,
      deleted: (obj) =>
        this.pods.remove(
          obj.metadata?.namespace ?? "",
          obj.metadata?.name ?? "",
          obj.metadata?.resourceVersion ?? "",
        ),
    };
  }

  private secretSink(): InformerSink {
    let seen = new Set<string>();
    let initial = true;
    const releaseOf = (obj: RawObject): string | null => {
      const name = obj.metadata?.name ?? "";
      return name.startsWith(VC_CONFIG_PREFIX) ? name.slice(VC_CONFIG_PREFIX.length) : null;
    };
    const set = (namespace: string, release: string, yaml: string | null): boolean => {
      const inNamespace = this.configs.get(namespace);
      const before = inNamespace?.get(release) ?? null;
      if (before === yaml) return false;
      if (yaml === null) {
        inNamespace?.delete(release);
        if (inNamespace?.size === 0) this.configs.delete(namespace);
      } else if (inNamespace) inNamespace.set(release, yaml);
      else this.configs.set(namespace, new Map([[release, yaml]]));
      return true;
    };
    const put = (obj: RawObject, notify: boolean) => {
      const release = releaseOf(obj);
      if (release === null) return; // Not a vcluster config: nothing of it is kept.
      const namespace = obj.metadata?.namespace ?? "";
      // A changed config may change the vcluster's policy: have the reconciler look at it now.
      if (set(namespace, release, secretConfigYaml(obj)) && notify) this.notifyConfig(namespace, release);
    };
    return {
      beginList: () => {
        seen = new Set();
      },
      listed: (obj) => {
        const release = releaseOf(obj);
        if (release !== null) seen.add(`${obj.metadata?.namespace ?? ""}/${release}`);
        put(obj, !initial);
      },
      endList: () => {
        for (const [namespace, releases] of this.configs) {
          for (const release of [...releases.keys()]) {
            if (!seen.has(`${namespace}/${release}`) && set(namespace, release, null) && !initial)
              this.notifyConfig(namespace, release);
          }
        }
        seen = new Set();
        initial = false;
      },
      added: (obj) => put(obj, true),
      modified: (obj) => put(obj, true),
      absent: () => this.configs.clear(),
      deleted: (obj) => {
        const release = releaseOf(obj);
        const namespace = obj.metadata?.namespace ?? "";
        if (release !== null && set(namespace, release, null)) this.notifyConfig(namespace, release);
      },
    };
  }

  private notifyConfig(namespace: string, release: string): void {
    const plane = [...(this.controlPlanes.get(namespace)?.values() ?? [])].find(
      (p) => p.meta.labels.release === release,
    );
    if (!plane) return;
    this.emit("controlPlanes", "modified", plane.kind, {
      metadata: { namespace, name: plane.meta.name, labels: { ...plane.meta.labels } },
    });
  }
}

const keyOf = (kind: CachedKind, obj: RawObject): string => `${kind}/${obj.metadata?.name ?? ""}`;

function toWorkload(kind: WorkloadKind, obj: RawObject): Workload {
  const normalized =
    kind === "CronJob"
      ? normalizeCronJob(obj as never)
      : kind === "ScaledObject"
        ? normalizeScaledObject(obj as ScaledObjectResource)
        : normalizeScalable(obj as V1StatefulSet | V1Deployment, kind);
  return { ...normalized, meta: stripMeta(obj.metadata) };
}

/**
 * `slumber run`'s client: `inner` (the API server client) under the cache, fed by real list/watch;
 * `options.timeoutMs` is each LIST's timeout (ApiServerListWatch's default when absent).
 */
export function withCache(
  inner: KubeClient,
  kubeConfig: KubeConfig,
  logger: Logger,
  options: { timeoutMs?: number } = {},
): KubeClient {
  const source = new ApiServerListWatch(kubeConfig, { logger, ...options });
  const cache = new CachedKubeClient({ inner, source, logger });
  return cachedKubeClient(cache, inner);
}

/**
 * `inner` with the cache's read path: the methods above come from `cache`, every other method of
 * KubeClient (added later, not cached) goes to `inner` unchanged.
 */
export function cachedKubeClient(cache: CachedKubeClient, inner: KubeClient): KubeClient {
  return new Proxy(inner, {
    get(target, property, receiver) {
      if (typeof property === "string" && (CACHED_METHODS as readonly string[]).includes(property)) {
        const method = (cache as unknown as Record<string, unknown>)[property];
        if (typeof method === "function") return method.bind(cache);
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
