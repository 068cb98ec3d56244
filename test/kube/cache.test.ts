import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { V1Pod } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CachedKubeClient, cachedKubeClient } from "../../src/kube/cache.js";
import { normalizeMeta } from "../../src/kube/client.js";
import type { CachedKind, RawObject } from "../../src/kube/listwatch.js";
import { isNewer, parseSelector } from "../../src/kube/store.js";
import { stripPod } from "../../src/kube/strip.js";
import {
  type KubeClient,
  KubeError,
  type ObjectMeta,
  type ObjectPatch,
  type ObjectRef,
  type WatchEvent,
} from "../../src/kube/types.js";
import { DEFAULT_PRICES, podsHourlyCost } from "../../src/metrics/cost.js";
import { FakeApiServer, raw } from "../fakes/apiserver.js";

const logger = pino({ level: "silent" });

/** The "real" client under the cache: writes go to the fake API server; every call is counted. */
class InnerClient {
  readonly calls: string[] = [];
  constructor(private readonly server: FakeApiServer) {}

  client(): KubeClient {
    const server = this.server;
    const calls = this.calls;
    const kindOf = (ref: ObjectRef): CachedKind => ref.kind;
    const impl = {
      async patch(ref: ObjectRef, patch: ObjectPatch): Promise<ObjectMeta> {
        const current = server.object(kindOf(ref), ref.kind === "Namespace" ? "" : ref.namespace, ref.name);
        if (!current) throw new KubeError("patch", ref.name, 404, "not found");
        if (patch.resourceVersion && patch.resourceVersion !== current.metadata?.resourceVersion)
          throw new KubeError("patch", ref.name, 409, "the object has been modified");
        const next = structuredClone(current) as RawObject & { spec?: Record<string, unknown> };
        const annotations = { ...(next.metadata?.annotations ?? {}) };
        for (const [k, v] of Object.entries(patch.annotations ?? {})) {
          if (v === null) delete annotations[k];
          else annotations[k] = v;
        }
        next.metadata = { ...next.metadata, annotations };
        if (patch.replicas !== undefined) next.spec = { ...next.spec, replicas: patch.replicas };
        if (patch.suspend !== undefined) next.spec = { ...next.spec, suspend: patch.suspend };
        if (patch.replicas !== undefined || patch.suspend !== undefined)
          next.metadata = { ...next.metadata, generation: (next.metadata?.generation ?? 0) + 1 };
        return normalizeMeta(server.put(kindOf(ref), next).metadata);
      },
      async deletePod(namespace: string, name: string): Promise<void> {
        const pod = server.object("Pod", namespace, name);
        if (pod) server.put("Pod", { ...pod, metadata: { ...pod.metadata, deletionTimestamp: new Date() } });
      },
      async recordEvent(): Promise<void> {},
      async extraMethodAddedLater(x: number): Promise<number> {
        return x * 2;
      },
    };
    return new Proxy(impl as unknown as KubeClient, {
      get(target, property) {
        const value = (target as unknown as Record<string | symbol, unknown>)[property];
        if (typeof property === "string") {
          return (...args: unknown[]) => {
            calls.push(property);
            if (typeof value === "function") return (value as (...a: unknown[]) => unknown)(...args);
            return Promise.resolve(`inner:${property}`);
          };
        }
        return value;
      },
    });
  }
}

interface Setup {
  server: FakeApiServer;
  inner: InnerClient;
  cache: CachedKubeClient;
  kube: KubeClient;
  events: WatchEvent[];
  now: { t: number };
}

const running: CachedKubeClient[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.stop()));
});

async function setup(
  seed: (server: FakeApiServer) => void = () => {},
  idleMs = 60_000,
  recordEvents = true,
): Promise<Setup> {
  const server = new FakeApiServer();
  seed(server);
  const inner = new InnerClient(server);
  const now = { t: 1_000_000 };
  const cache = new CachedKubeClient({
    inner: inner.client(),
    source: server,
    logger,
    idleMs,
    now: () => now.t,
    informer: { backoffMinMs: 5, backoffMaxMs: 20, absentRetryMs: 50, pageSize: 7 },
  });
  running.push(cache);
  const kube = cachedKubeClient(cache, inner.client());
  const events: WatchEvent[] = [];
  const handles = (["controlPlanes", "namespaces", "workloads"] as const).map((r) =>
    kube.watch(r, (e) => {
      if (recordEvents) events.push(e);
    }),
  );
  await Promise.all(handles.map((h) => h.synced));
  return { server, inner, cache, kube, events, now };
}

const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

function seedTenant(server: FakeApiServer, ns: string, annotations: Record<string, string> = {}): void {
  server.put("Namespace", raw.namespace(ns, annotations));
  server.put("Deployment", raw.deployment(ns, "web", { replicas: 2 }));
  server.put("Deployment", raw.deployment(ns, "api"));
  server.put("CronJob", raw.cronJob(ns, "report"));
  server.put("Pod", raw.pod(ns, "web-1", { labels: { app: "web" } }));
  server.put("Pod", raw.pod(ns, "web-2", { labels: { app: "web" } }));
}

function seedVcluster(server: FakeApiServer, ns: string, release: string): void {
  server.put("Namespace", raw.namespace(ns));
  server.put(
    "StatefulSet",
    raw.statefulSet(ns, release, {
      labels: { app: "vcluster", release },
      annotations: { "slumber.dev/enabled": "true" },
    }),
  );
  server.put(
    "Secret",
    raw.secret(ns, `vc-config-${release}`, {
      "config.yaml": "sleep:\n  auto:\n    afterInactivity: 1h\n",
      other: "x",
    }),
  );
  server.put("Secret", raw.secret(ns, `vc-${release}`, { config: "kubeconfig with a token" }));
  server.put("Pod", raw.pod(ns, `${release}-0`, { labels: { app: "vcluster", release } }));
  server.put("Pod", raw.pod(ns, "coredns-x-vc", { labels: { "vcluster.loft.sh/managed-by": release } }));
}

describe("CachedKubeClient: reads", () => {
  it("answers every read from memory after sync: no API call, no LIST beyond the first of a namespace", async () => {
    const { server, inner, kube, cache } = await setup((s) => {
      for (let i = 0; i < 20; i++) seedTenant(s, `team-${i}`);
      seedVcluster(s, "vc-host", "dev");
    });
    const listsAfterSync = server.calls.list;
    // Nothing tracked yet: the cluster-wide Pod and CronJob LISTs fetched one object, for the version only.
    expect(server.calls.itemsServed.get("Pod")).toBe(1);
    expect(server.calls.itemsServed.get("CronJob")).toBe(1);
    expect(server.calls.itemsServed.get("Namespace")).toBe(21);
    const watchesAfterSync = server.calls.watch;
    expect(server.openWatches()).toBe(7 - 1); // ScaledObjects are absent: 6 kinds watched, once each

    // The first read of a namespace LISTs it once per kind; unread namespaces hold nothing.
    expect((await kube.listWorkloads("team-3")).map((w) => `${w.kind}/${w.meta.name}`)).toEqual([
      "Deployment/api",
      "Deployment/web",
      "CronJob/report",
    ]);
    expect(cache.sizes().workloadNamespaces).toBe(1);
    const listsAfterFirstRead = server.calls.list;
    expect(listsAfterFirstRead - listsAfterSync).toBe(3); // Deployments, StatefulSets, CronJobs (no KEDA)

    for (let pass = 0; pass < 30; pass++) {
      await kube.listControlPlanes();
      await kube.listNamespaces();
      await kube.getNamespace("team-3");
      await kube.getControlPlane("vc-host", "dev");
      await kube.listWorkloads("team-3");
      await kube.listPods("team-3");
      await kube.listPods("vc-host", "app=vcluster,release=dev");
      await kube.readVclusterConfig("vc-host", "dev");
    }
    // One Pod LIST for each of the two namespaces read for pods, on their first read only.
    expect(server.calls.list).toBe(listsAfterFirstRead + 2);
    expect(server.calls.watch).toBe(watchesAfterSync);
    expect(inner.calls).toEqual([]);

    expect((await kube.listControlPlanes()).map((p) => `${p.meta.namespace}/${p.release}`)).toEqual([
      "vc-host/dev",
    ]);
    expect((await kube.getControlPlane("vc-host", "dev"))?.kind).toBe("StatefulSet");
    expect(await kube.getControlPlane("vc-host", "other")).toBeNull();
    expect(await kube.getNamespace("nope")).toBeNull();
    expect(await kube.listWorkloads("nope")).toEqual([]);
    expect(await kube.readVclusterConfig("vc-host", "dev")).toBe(
      "sleep:\n  auto:\n    afterInactivity: 1h\n",
    );
    expect(await kube.readVclusterConfig("vc-host", "missing")).toBeNull();
    expect((await kube.listPods("vc-host", "app=vcluster,release=dev")).map((p) => p.metadata?.name)).toEqual(
      ["dev-0"],
    );
    expect((await kube.listPods("vc-host")).length).toBe(2);
    expect(inner.calls).toEqual([]);
  });

  it("answers a Namespace label selector from memory, never with every namespace", async () => {
    const { kube, inner } = await setup((s) => {
      seedTenant(s, "team-a");
      seedVcluster(s, "vc-host", "dev");
      const labelled = raw.namespace("vc-host-x-dev-ns");
      labelled.metadata = {
        ...labelled.metadata,
        labels: { "vcluster.loft.sh/managed-by": "vc-host-x-dev" },
      };
      s.put("Namespace", labelled);
    });
    // A multi-namespace vcluster's sleep deletes the pods of these namespaces: all of them would be a disaster.
    expect(
      (await kube.listNamespaces("vcluster.loft.sh/managed-by=vc-host-x-dev")).map((n) => n.meta.name),
    ).toEqual(["vc-host-x-dev-ns"]);
    expect((await kube.listNamespaces()).length).toBe(3);
    expect(inner.calls).toEqual([]);
  });

  it("keeps only config.yaml of vc-config Secrets, nothing of any other Secret", async () => {
    const { cache } = await setup((s) => seedVcluster(s, "vc-host", "dev"));
    const held = JSON.stringify(
      [...(cache as unknown as { configs: Map<string, Map<string, string>> }).configs].map(([ns, m]) => [
        ns,
        [...m],
      ]),
    );
    expect(held).toContain("afterInactivity");
    expect(held).not.toContain("kubeconfig with a token");
    expect(cache.sizes().vclusterConfigs).toBe(1);
  });

  it("follows watch events: a scale by someone else, a new control plane, a changed vc-config", async () => {
    const { server, kube, events, inner } = await setup((s) => {
      seedTenant(s, "team-a");
      seedVcluster(s, "vc-host", "dev");
    });
    await kube.listWorkloads("team-a");
    server.put("Deployment", raw.deployment("team-a", "web", { replicas: 5 }));
    server.put(
      "StatefulSet",
      raw.statefulSet("vc-host", "qa", { labels: { app: "vcluster", release: "qa" } }),
    );
    server.put("Secret", raw.secret("vc-host", "vc-config-dev", { "config.yaml": "sleep: {}\n" }));
    await settle();
    expect((await kube.listWorkloads("team-a")).find((w) => w.meta.name === "web")?.replicas).toBe(5);
    expect((await kube.listControlPlanes()).map((p) => p.release).sort()).toEqual(["dev", "qa"]);
    expect(await kube.readVclusterConfig("vc-host", "dev")).toBe("sleep: {}\n");
    expect(events).toContainEqual(
      expect.objectContaining({ resource: "workloads", type: "modified", name: "web" }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({ resource: "controlPlanes", type: "added", name: "qa" }),
    );
    // The changed config makes the reconciler look at its vcluster at once.
    expect(events).toContainEqual(
      expect.objectContaining({
        resource: "controlPlanes",
        type: "modified",
        name: "dev",
        labels: expect.objectContaining({ release: "dev" }),
      }),
    );
    // A control plane that loses its label is no control plane any more.
    server.put("StatefulSet", raw.statefulSet("vc-host", "qa", { labels: { app: "other", release: "qa" } }));
    await settle();
    expect((await kube.listControlPlanes()).map((p) => p.release)).toEqual(["dev"]);
    expect(events).toContainEqual(
      expect.objectContaining({ resource: "controlPlanes", type: "deleted", name: "qa" }),
    );
    expect(inner.calls).toEqual([]);
  });

  it("without list/watch on Secrets (an older RBAC) it syncs and reads vc-config by name", async () => {
    const { kube, inner, cache } = await setup((s) => {
      seedVcluster(s, "vc-host", "dev");
      s.forbiddenKinds.add("Secret");
    });
    expect(await kube.readVclusterConfig("vc-host", "dev")).toBe("inner:readVclusterConfig");
    expect(inner.calls).toEqual(["readVclusterConfig"]);
    expect(cache.sizes().vclusterConfigs).toBe(0);
    await kube.listNamespaces();
    expect(inner.calls).toEqual(["readVclusterConfig"]);
  });

  it("passes methods it does not cache through to the real client unchanged", async () => {
    const { kube, inner } = await setup();
    const extended = kube as unknown as { extraMethodAddedLater(x: number): Promise<number> };
    expect(await extended.extraMethodAddedLater(21)).toBe(42);
    expect(inner.calls).toEqual(["extraMethodAddedLater"]);
  });

  it("reads from the API server before sync and while an informer is failing", async () => {
    const server = new FakeApiServer();
    seedTenant(server, "team-a");
    const inner = new InnerClient(server);
    const cache = new CachedKubeClient({
      inner: inner.client(),
      source: server,
      logger,
      informer: { backoffMinMs: 30, backoffMaxMs: 30, absentRetryMs: 50 },
    });
    running.push(cache);
    const kube = cachedKubeClient(cache, inner.client());
    await kube.listNamespaces(); // not started: straight to the API server
    expect(inner.calls).toEqual(["listNamespaces"]);
    const handle = kube.watch("namespaces", () => {});
    await handle.synced;
    await kube.listNamespaces();
    expect(inner.calls).toEqual(["listNamespaces"]);
    server.dropWatches(new Error("connection reset"));
    await settle();
    await kube.listNamespaces(); // the Namespace informer is in backoff: its store may be stale
    expect(inner.calls).toEqual(["listNamespaces", "listNamespaces"]);
    await vi.waitFor(() => expect(server.openWatches()).toBe(6));
    await kube.listNamespaces();
    expect(inner.calls.length).toBe(2);
    await handle.stop();
    expect(server.openWatches()).toBe(0);
  });
});

describe("CachedKubeClient: writes", () => {
  it("read-your-writes: the next read sees the write before its watch event arrives, and no stale event undoes it", async () => {
    const { server, kube } = await setup((s) => seedTenant(s, "team-a", { "slumber.dev/enabled": "true" }));
    const before = (await kube.listWorkloads("team-a")).find((w) => w.meta.name === "web");
    expect(before?.replicas).toBe(2);
    server.holdEvents = true;
    // A resourceVersion-guarded write from the cached version succeeds...
    const ref = { kind: "Deployment", namespace: "team-a", name: "web" } as const;
    const meta = await kube.patch(ref, { replicas: 0, resourceVersion: before?.meta.resourceVersion ?? "" });
    // ...and the cache holds its result at once, so a second guarded write does not loop on 409.
    const after = (await kube.listWorkloads("team-a")).find((w) => w.meta.name === "web");
    expect(after?.replicas).toBe(0);
    expect(after?.meta.resourceVersion).toBe(meta.resourceVersion);
    await kube.patch(ref, {
      annotations: { "slumber.dev/x": "1" },
      resourceVersion: after?.meta.resourceVersion ?? "",
    });
    const nsMeta = await kube.patch(
      { kind: "Namespace", namespace: "team-a", name: "team-a" },
      {
        annotations: { "slumber.dev/sleeping-since": "2026-01-01T00:00:00Z" },
      },
    );
    expect((await kube.getNamespace("team-a"))?.meta.annotations["slumber.dev/sleeping-since"]).toBe(
      "2026-01-01T00:00:00Z",
    );
    expect((await kube.getNamespace("team-a"))?.meta.resourceVersion).toBe(nsMeta.resourceVersion);
    // The held (older) watch events arrive late: they must not roll the cache back.
    server.holdEvents = false;
    server.flush();
    await settle();
    const final = (await kube.listWorkloads("team-a")).find((w) => w.meta.name === "web");
    expect(final?.replicas).toBe(0);
    expect(final?.meta.annotations["slumber.dev/x"]).toBe("1");
    expect(final?.meta.resourceVersion).toBe(
      server.object("Deployment", "team-a", "web")?.metadata?.resourceVersion,
    );
  });

  it("a deleted pod reads as Terminating at once, so a sleep does not delete it again", async () => {
    const { kube, inner } = await setup((s) => seedVcluster(s, "vc-host", "dev"));
    await kube.listPods("vc-host");
    await kube.deletePod("vc-host", "coredns-x-vc");
    const pod = (await kube.listPods("vc-host")).find((p) => p.metadata?.name === "coredns-x-vc");
    expect(pod?.metadata?.deletionTimestamp).toBeTruthy();
    expect(inner.calls).toEqual(["deletePod"]);
  });
});

describe("CachedKubeClient: watch recovery", () => {
  it("resumes a closed watch from its last version without a LIST", async () => {
    const { server, kube } = await setup((s) => seedTenant(s, "team-a"));
    await kube.listWorkloads("team-a");
    const lists = () => server.calls.list - (server.calls.listByKind.get("ScaledObject") ?? 0);
    const before = lists();
    server.dropWatches();
    server.put("Deployment", raw.deployment("team-a", "web", { replicas: 9 }));
    await vi.waitFor(() => expect(server.openWatches()).toBe(6));
    await vi.waitFor(async () =>
      expect((await kube.listWorkloads("team-a")).find((w) => w.meta.name === "web")?.replicas).toBe(9),
    );
    expect(lists()).toBe(before);
  });

  it("relists on 410 Gone and applies what happened meanwhile, including deletions", async () => {
    const { server, kube, cache, events } = await setup((s) => {
      seedTenant(s, "team-a");
      seedTenant(s, "team-b");
      seedVcluster(s, "vc-host", "dev");
    });
    await kube.listWorkloads("team-a");
    await kube.listPods("team-a");
    const namespaceLists = server.calls.listByKind.get("Namespace") ?? 0;
    server.holdEvents = true; // the connection is dead: these events never arrive
    server.remove("Deployment", "team-a", "api");
    server.put("Deployment", raw.deployment("team-a", "web", { replicas: 7 }));
    server.remove("Pod", "team-a", "web-2");
    server.remove("StatefulSet", "vc-host", "dev");
    server.remove("Namespace", "", "team-b");
    server.holdEvents = false;
    server.compact();
    server.dropWatches();
    server.discardHeld();
    await vi.waitFor(() => expect(server.calls.listByKind.get("Namespace")).toBe(namespaceLists + 1));
    await vi.waitFor(() => expect(server.openWatches()).toBe(6));
    expect((await kube.listWorkloads("team-a")).map((w) => `${w.meta.name}:${w.replicas}`)).toEqual([
      "web:7",
      "report:null",
    ]);
    expect((await kube.listPods("team-a")).map((p) => p.metadata?.name)).toEqual(["web-1"]);
    expect(await kube.listControlPlanes()).toEqual([]);
    expect(await kube.getNamespace("team-b")).toBeNull();
    expect(cache.sizes().namespaces).toBe(2);
    expect(events).toContainEqual(
      expect.objectContaining({ resource: "controlPlanes", type: "deleted", name: "dev" }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({ resource: "namespaces", type: "deleted", name: "team-b" }),
    );
  });

  it("a namespace first read while a relist is in flight keeps what its own LIST found", async () => {
    const { server, kube } = await setup((s) => {
      for (const ns of ["team-a", "team-b", "team-c", "team-d", "team-e"]) seedTenant(s, ns);
    });
    await kube.listPods("team-a"); // something tracked: relists fetch every item (7 a page here)
    let release: () => void = () => {};
    server.gateContinuePages = new Promise((resolve) => {
      release = resolve;
    });
    const podLists = server.calls.listByKind.get("Pod") ?? 0;
    server.expireWatches();
    // The Pod relist delivered its first page (team-b's pods in it, not tracked then) and waits for the next.
    await vi.waitFor(() => expect(server.calls.listByKind.get("Pod")).toBe(podLists + 1));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect((await kube.listPods("team-b")).map((p) => p.metadata?.name)).toEqual(["web-1", "web-2"]);
    server.gateContinuePages = null;
    release();
    await vi.waitFor(() => expect(server.openWatches()).toBe(6));
    await vi.waitFor(() => expect(server.calls.listByKind.get("Pod")).toBe(podLists + 3));
    // The relist that began before team-b was tracked must not sweep what team-b's own LIST found.
    expect((await kube.listPods("team-b")).map((p) => p.metadata?.name)).toEqual(["web-1", "web-2"]);
    expect((await kube.listPods("team-a")).map((p) => p.metadata?.name)).toEqual(["web-1", "web-2"]);
  });

  it("an ERROR 410 on an open watch relists too", async () => {
    const { server } = await setup((s) => seedTenant(s, "team-a"));
    const lists = server.calls.listByKind.get("Deployment") ?? 0;
    server.expireWatches();
    await vi.waitFor(() => expect(server.calls.listByKind.get("Deployment")).toBe(lists + 1));
  });
});

describe("CachedKubeClient: memory", () => {
  it("a deleted namespace frees its workloads, pods, configs and control planes", async () => {
    const { server, kube, cache } = await setup((s) => {
      seedTenant(s, "team-a");
      seedVcluster(s, "vc-host", "dev");
    });
    const baseline = cache.mapSizes();
    await kube.listWorkloads("team-a");
    await kube.listPods("team-a");
    await kube.listPods("vc-host");
    expect(cache.sizes()).toMatchObject({ workloads: 3, pods: 4, controlPlanes: 1, vclusterConfigs: 1 });
    server.remove("Namespace", "", "team-a");
    server.remove("Namespace", "", "vc-host");
    await settle();
    expect(cache.sizes()).toEqual({
      namespaces: 0,
      controlPlanes: 0,
      vclusterConfigs: 0,
      workloadNamespaces: 0,
      workloads: 0,
      podNamespaces: 0,
      pods: 0,
    });
    expect(cache.mapSizes()).toEqual({
      ...baseline,
      namespaces: 0,
      controlPlaneNamespaces: 0,
      configNamespaces: 0,
    });
    // The objects' own DELETED events come later and find nothing to do.
    server.remove("Deployment", "team-a", "web");
    server.remove("Pod", "vc-host", "dev-0");
    await settle();
    expect(cache.sizes().workloads).toBe(0);
  });

  it("a namespace nobody reads for idleMs (no longer managed) is dropped; its events are then ignored", async () => {
    const { server, kube, cache, now } = await setup((s) => seedTenant(s, "team-a"), 60_000);
    await kube.listWorkloads("team-a");
    await kube.listPods("team-a");
    now.t += 30_000;
    cache.sweep();
    expect(cache.sizes().workloadNamespaces).toBe(1);
    now.t += 31_000;
    cache.sweep();
    expect(cache.sizes()).toMatchObject({ workloadNamespaces: 0, workloads: 0, podNamespaces: 0, pods: 0 });
    server.put("Pod", raw.pod("team-a", "web-3"));
    await settle();
    expect(cache.sizes().pods).toBe(0);
    // Read again: tracked again, complete.
    expect((await kube.listPods("team-a")).length).toBe(3);
  });

  it("creating and deleting 10,000 preview namespaces leaves every map at baseline and the heap bounded", async () => {
    const { server, kube, cache } = await setup((s) => seedTenant(s, "team-base"), 60_000, false);
    await kube.listWorkloads("team-base");
    await kube.listPods("team-base");
    const baselineMaps = cache.mapSizes();
    const baselineSizes = cache.sizes();
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const heap = () => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    const heapBefore = heap();
    let peakWorkloads = 0;
    for (let batch = 0; batch < 10; batch++) {
      const names = Array.from({ length: 1000 }, (_, i) => `preview-${batch}-${i}`);
      for (const ns of names) {
        server.put("Namespace", raw.namespace(ns, { "slumber.dev/enabled": "true" }));
        server.put("Deployment", raw.deployment(ns, "web"));
        server.put("Deployment", raw.deployment(ns, "db"));
        server.put("Pod", raw.pod(ns, "web-1"));
        server.put("Pod", raw.pod(ns, "db-1"));
      }
      await settle();
      for (const ns of names) {
        await kube.listWorkloads(ns);
        await kube.listPods(ns);
      }
      peakWorkloads = Math.max(peakWorkloads, cache.sizes().workloads);
      for (const ns of names) {
        server.remove("Pod", ns, "web-1");
        server.remove("Pod", ns, "db-1");
        server.remove("Deployment", ns, "web");
        server.remove("Deployment", ns, "db");
        server.remove("Namespace", "", ns);
      }
      server.compact(); // the fake's own event log is not the cache's memory
      await settle();
    }
    expect(peakWorkloads).toBeGreaterThanOrEqual(2000);
    expect(cache.sizes()).toEqual(baselineSizes);
    expect(cache.mapSizes()).toEqual(baselineMaps);
    const growth = heap() - heapBefore;
    // 10,000 namespaces × (2 workloads + 2 pods) would be tens of MB if anything were retained.
    expect(growth).toBeLessThan(8 * 1024 * 1024);
  }, 60_000);
});

describe("strip", () => {
  const realistic = (): V1Pod[] =>
    [
      raw.pod("a", "plain", { cpu: "1500m", memory: "1.5Gi" }),
      {
        ...raw.pod("a", "sidecars"),
        spec: {
          containers: [
            {
              name: "app",
              image: "x",
              resources: { requests: { cpu: "2", memory: "4Gi" }, limits: { cpu: "4" } },
            },
            { name: "limits-only", image: "x", resources: { limits: { cpu: "300m", memory: "128974848" } } },
          ],
          initContainers: [
            { name: "migrate", image: "x", resources: { requests: { cpu: "3", memory: "1Gi" } } },
            {
              name: "proxy",
              image: "x",
              restartPolicy: "Always",
              resources: { requests: { cpu: "100m", memory: "64Mi" } },
            },
            { name: "late-init", image: "x", resources: { requests: { cpu: "500m", memory: "8Gi" } } },
          ],
          overhead: { cpu: "250m", memory: "120Mi" },
          volumes: [{ name: "v", emptyDir: {} }],
        },
      },
      { ...raw.pod("a", "done"), status: { phase: "Succeeded" } },
      { ...raw.pod("a", "failed"), status: { phase: "Failed" } },
      { ...raw.pod("a", "pending"), status: { phase: "Pending" } },
      { ...raw.pod("a", "no-resources"), spec: { containers: [{ name: "c", image: "x" }] } },
    ] as unknown as V1Pod[];

  it("prices stripped pods exactly like the full ones", () => {
    const pods = realistic();
    const stripped = pods.map((p) => stripPod(p as unknown as RawObject));
    expect(podsHourlyCost(stripped, DEFAULT_PRICES)).toBe(podsHourlyCost(pods, DEFAULT_PRICES));
    expect(podsHourlyCost(stripped, DEFAULT_PRICES)).toBeGreaterThan(0);
    for (const [i, pod] of pods.entries()) {
      expect(podsHourlyCost([stripped[i] as V1Pod], DEFAULT_PRICES)).toBe(
        podsHourlyCost([pod], DEFAULT_PRICES),
      );
    }
  });

  it("drops managedFields, annotations, env, volumes and status other than the phase", () => {
    const pod = raw.pod("a", "web", { labels: { app: "web" } });
    const stripped = stripPod(pod);
    const text = JSON.stringify(stripped);
    expect(text).not.toContain("managedFields");
    expect(text).not.toContain("restartedAt");
    expect(text).not.toContain("xxxx");
    expect(text).not.toContain("projected");
    expect(text).not.toContain("podIP");
    expect(stripped.metadata?.labels).toEqual({ app: "web" });
    expect(stripped.metadata?.ownerReferences?.[0]?.kind).toBe("ReplicaSet");
    expect(text.length).toBeLessThan(JSON.stringify(pod).length / 2);
  });
});

describe("helpers", () => {
  it("isNewer compares integer resourceVersions numerically", () => {
    expect(isNewer("10", "9")).toBe(true);
    expect(isNewer("9", "10")).toBe(false);
    expect(isNewer("10", "10")).toBe(false);
    expect(isNewer("abc", "abd")).toBe(true);
  });

  it("parseSelector understands equality and set-based selectors, and refuses the rest", () => {
    const labels = { app: "vcluster", release: "dev", tier: "a" };
    const matches = (s: string) => parseSelector(s)?.(labels);
    expect(matches("app=vcluster,release=dev")).toBe(true);
    expect(matches("app==vcluster,release!=dev")).toBe(false);
    expect(matches("tier in (a, b),!missing")).toBe(true);
    expect(matches("tier notin (a),app")).toBe(false);
    expect(parseSelector("app=(broken")).toBeNull();
  });
});
