// An in-memory LIST/WATCH source with the API server's semantics the cache relies on: integer
// resourceVersions, paginated LIST, WATCH from a version (replaying later events), bookmarks, 410 Gone for a
// compacted version, and a stream that can be dropped. Counts every LIST and WATCH it serves.
import type {
  CachedKind,
  ListOptions,
  ListPage,
  ListWatchSource,
  RawObject,
  WatchEventType,
  WatchOptions,
  WatchStream,
} from "../../src/kube/listwatch.js";
import { KubeError } from "../../src/kube/types.js";

interface LoggedEvent {
  kind: CachedKind;
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: RawObject;
  version: number;
}

interface Watcher {
  kind: CachedKind;
  onEvent: (type: WatchEventType, object: RawObject) => void;
  done: (err: unknown) => void;
}

const clone = <T>(value: T): T => structuredClone(value);

export class FakeApiServer implements ListWatchSource {
  private version = 1;
  private readonly objects = new Map<CachedKind, Map<string, RawObject>>();
  private log: LoggedEvent[] = [];
  /** Versions at or below this were compacted: a WATCH from them gets 410. */
  private compactedThrough = 0;
  private readonly watchers = new Set<Watcher>();
  /** Kinds that answer 404 (a CRD not installed). */
  readonly absentKinds = new Set<CachedKind>(["ScaledObject"]);
  /** Kinds the identity may not list (403). */
  readonly forbiddenKinds = new Set<CachedKind>();
  readonly calls = {
    list: 0,
    watch: 0,
    listByKind: new Map<string, number>(),
    itemsServed: new Map<string, number>(),
  };
  /** Events are queued rather than delivered while true (a slow network), until `flush()`. */
  holdEvents = false;
  /** While set, the second and later pages of a LIST wait for it (a slow, paginated LIST in flight). */
  gateContinuePages: Promise<void> | null = null;
  private held: (() => void)[] = [];

  private store(kind: CachedKind): Map<string, RawObject> {
    let s = this.objects.get(kind);
    if (!s) {
      s = new Map();
      this.objects.set(kind, s);
    }
    return s;
  }

  get resourceVersion(): string {
    return String(this.version);
  }

  object(kind: CachedKind, namespace: string, name: string): RawObject | undefined {
    return this.store(kind).get(`${namespace}/${name}`);
  }

  /** Creates or replaces an object; returns it with its new resourceVersion. */
  put(kind: CachedKind, object: RawObject): RawObject {
    const meta = object.metadata ?? {};
    const key = `${meta.namespace ?? ""}/${meta.name ?? ""}`;
    const existed = this.store(kind).has(key);
    const version = ++this.version;
    const stored = clone({ ...object, metadata: { ...meta, resourceVersion: String(version) } }) as RawObject;
    this.store(kind).set(key, stored);
    this.record({ kind, type: existed ? "MODIFIED" : "ADDED", object: stored, version });
    return clone(stored);
  }

  remove(kind: CachedKind, namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const existing = this.store(kind).get(key);
    if (!existing) return;
    this.store(kind).delete(key);
    const version = ++this.version;
    const object = {
      ...existing,
      metadata: { ...existing.metadata, resourceVersion: String(version) },
    } as RawObject;
    this.record({ kind, type: "DELETED", object, version });
  }

  /** Forgets the event history: a watch resuming from an older version gets 410 Gone. */
  compact(): void {
    this.compactedThrough = this.version;
    this.log = [];
  }

  /** Ends every open watch as the API server does at its timeout (or on a dropped connection). */
  dropWatches(err: unknown = null): void {
    for (const w of [...this.watchers]) {
      this.watchers.delete(w);
      w.done(err);
    }
  }

  /** Sends an ERROR 410 on every open watch, as the API server does when the watch falls too far behind. */
  expireWatches(): void {
    for (const w of [...this.watchers]) {
      w.onEvent("ERROR", {
        kind: "Status",
        code: 410,
        message: "too old resource version",
      } as unknown as RawObject);
    }
  }

  bookmark(): void {
    for (const w of this.watchers)
      w.onEvent("BOOKMARK", { metadata: { resourceVersion: String(this.version) } } as RawObject);
  }

  flush(): void {
    const held = this.held;
    this.held = [];
    for (const deliver of held) deliver();
  }

  /** Drops the held events: they were lost with the connection. */
  discardHeld(): void {
    this.held = [];
  }

  openWatches(): number {
    return this.watchers.size;
  }

  private record(event: LoggedEvent): void {
    this.log.push(event);
    for (const w of this.watchers) {
      if (w.kind !== event.kind) continue;
      const deliver = () => {
        if (this.watchers.has(w)) w.onEvent(event.type, clone(event.object));
      };
      if (this.holdEvents) this.held.push(deliver);
      else deliver();
    }
  }

  async list(kind: CachedKind, options: ListOptions): Promise<ListPage> {
    if (options.continue && this.gateContinuePages) await this.gateContinuePages;
    this.calls.list++;
    this.calls.listByKind.set(kind, (this.calls.listByKind.get(kind) ?? 0) + 1);
    if (this.forbiddenKinds.has(kind)) throw new KubeError("list", `${kind}s`, 403, "forbidden");
    if (this.absentKinds.has(kind))
      throw new KubeError("list", `${kind}s`, 404, "the server could not find the requested resource");
    const all = [...this.store(kind).values()]
      .filter((o) => options.namespace === undefined || o.metadata?.namespace === options.namespace)
      .sort((a, b) =>
        `${a.metadata?.namespace}/${a.metadata?.name}`.localeCompare(
          `${b.metadata?.namespace}/${b.metadata?.name}`,
        ),
      );
    const offset = options.continue ? Number(options.continue.split(":")[1]) : 0;
    const version = options.continue ? (options.continue.split(":")[0] ?? "") : String(this.version);
    const items = all.slice(offset, offset + options.limit).map(clone);
    this.calls.itemsServed.set(kind, (this.calls.itemsServed.get(kind) ?? 0) + items.length);
    const next = offset + options.limit < all.length ? `${version}:${offset + options.limit}` : undefined;
    return { items, resourceVersion: version, ...(next ? { continue: next } : {}) };
  }

  async watch(
    kind: CachedKind,
    options: WatchOptions,
    onEvent: (type: WatchEventType, object: RawObject) => void,
    done: (err: unknown) => void,
  ): Promise<WatchStream> {
    this.calls.watch++;
    const from = Number(options.resourceVersion);
    const watcher: Watcher = { kind, onEvent, done };
    this.watchers.add(watcher);
    if (from < this.compactedThrough) {
      onEvent("ERROR", {
        kind: "Status",
        code: 410,
        message: "too old resource version",
      } as unknown as RawObject);
    } else {
      for (const event of this.log) {
        if (event.kind === kind && event.version > from) onEvent(event.type, clone(event.object));
      }
    }
    return { stop: () => this.watchers.delete(watcher) };
  }
}

/** Raw objects as the API server sends them. */
export const raw = {
  namespace: (name: string, annotations: Record<string, string> = {}): RawObject =>
    ({ apiVersion: "v1", kind: "Namespace", metadata: { name, annotations, labels: {} } }) as RawObject,
  deployment: (
    namespace: string,
    name: string,
    options: {
      replicas?: number;
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
    } = {},
  ): RawObject =>
    ({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: {
        namespace,
        name,
        generation: 1,
        labels: options.labels ?? { app: name },
        annotations: options.annotations ?? {},
        managedFields: [
          { manager: "kubectl", operation: "Apply", fieldsV1: { "f:spec": { "f:replicas": {} } } },
        ],
      },
      spec: {
        replicas: options.replicas ?? 1,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { containers: [{ name: "app", image: "nginx" }] },
        },
      },
      status: { replicas: options.replicas ?? 1, readyReplicas: options.replicas ?? 1 },
    }) as unknown as RawObject,
  statefulSet: (
    namespace: string,
    name: string,
    options: {
      replicas?: number;
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
    } = {},
  ): RawObject =>
    ({
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: {
        namespace,
        name,
        generation: 1,
        labels: options.labels ?? {},
        annotations: options.annotations ?? {},
      },
      spec: { replicas: options.replicas ?? 1, volumeClaimTemplates: [{ metadata: { name: "data" } }] },
      status: { replicas: options.replicas ?? 1, readyReplicas: options.replicas ?? 1 },
    }) as unknown as RawObject,
  cronJob: (namespace: string, name: string, suspend = false): RawObject =>
    ({
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: { namespace, name, generation: 1, labels: {}, annotations: {} },
      spec: { suspend, schedule: "* * * * *" },
    }) as unknown as RawObject,
  pod: (
    namespace: string,
    name: string,
    options: { labels?: Record<string, string>; cpu?: string; memory?: string } = {},
  ): RawObject =>
    ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        namespace,
        name,
        uid: `uid-${namespace}-${name}`,
        labels: options.labels ?? {},
        annotations: { "kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z" },
        managedFields: [{ manager: "kube-controller-manager", operation: "Update" }],
        ownerReferences: [
          { apiVersion: "apps/v1", kind: "ReplicaSet", name: `${name}-rs`, uid: "rs", controller: true },
        ],
      },
      spec: {
        nodeName: "kwok-node-0",
        containers: [
          {
            name: "app",
            image: "nginx:1.27",
            env: [{ name: "A", value: "x".repeat(200) }],
            resources: { requests: { cpu: options.cpu ?? "250m", memory: options.memory ?? "256Mi" } },
          },
        ],
        volumes: [{ name: "token", projected: { sources: [] } }],
      },
      status: { phase: "Running", podIP: "10.0.0.1", conditions: [{ type: "Ready", status: "True" }] },
    }) as unknown as RawObject,
  secret: (namespace: string, name: string, data: Record<string, string>): RawObject =>
    ({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { namespace, name },
      type: "Opaque",
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
    }) as unknown as RawObject,
};
