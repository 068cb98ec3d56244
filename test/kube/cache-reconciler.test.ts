// The real reconciler on the cached client over an in-memory API server: a namespace sleep completes
// from memory, the writes' responses keep the guarded retries from looping, and unmanaged namespaces are
// neither listed nor kept.
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { CachedKubeClient, cachedKubeClient } from "../../src/kube/cache.js";
import { normalizeMeta } from "../../src/kube/client.js";
import type { CachedKind, RawObject } from "../../src/kube/listwatch.js";
import {
  type KubeClient,
  KubeError,
  type ObjectMeta,
  type ObjectPatch,
  type ObjectRef,
} from "../../src/kube/types.js";
import { Reconciler } from "../../src/reconciler/reconciler.js";
import { FakeApiServer, raw } from "../fakes/apiserver.js";
import { FakeClock, ManualTimers, recordingObserver, T0, testConfig } from "../fakes/harness.js";

const logger = pino({ level: "silent" });
const iso = (ms: number) => new Date(ms).toISOString();

/** Writes applied to the fake API server, like the real client's merge patches; reads counted and refused. */
function writer(server: FakeApiServer, calls: string[]): KubeClient {
  const impl: Partial<KubeClient> = {
    async patch(ref: ObjectRef, patch: ObjectPatch): Promise<ObjectMeta> {
      calls.push(`patch ${ref.kind} ${ref.namespace}/${ref.name}`);
      const kind = ref.kind as CachedKind;
      const current = server.object(kind, ref.kind === "Namespace" ? "" : ref.namespace, ref.name);
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
      if (patch.replicas !== undefined) {
        next.spec = { ...next.spec, replicas: patch.replicas };
        next.metadata = { ...next.metadata, generation: (next.metadata?.generation ?? 0) + 1 };
      }
      return normalizeMeta(server.put(kind, next).metadata);
    },
    async recordEvent(): Promise<void> {
      calls.push("recordEvent");
    },
  };
  return new Proxy(impl as KubeClient, {
    get(target, property) {
      const value = (target as unknown as Record<string | symbol, unknown>)[property];
      if (value !== undefined || typeof property !== "string") return value;
      return async () => {
        calls.push(property);
        throw new Error(`read ${property} went to the API server`);
      };
    },
  });
}

const running: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of running.splice(0)) await stop();
});

describe("Reconciler on CachedKubeClient", () => {
  it("puts managed namespaces to sleep from memory and never lists unmanaged ones", async () => {
    const server = new FakeApiServer();
    const idle = {
      "slumber.dev/enabled": "true",
      "slumber.dev/sleep-after": "1h",
      "slumber.dev/last-wake": iso(T0 - 3 * 3600_000),
      "slumber.dev/last-activity": iso(T0 - 3 * 3600_000),
    };
    for (let i = 0; i < 3; i++) {
      server.put("Namespace", raw.namespace(`team-${i}`, idle));
      for (const name of ["web", "api", "worker"]) {
        server.put("Deployment", raw.deployment(`team-${i}`, name, { replicas: 2 }));
        server.put("Pod", raw.pod(`team-${i}`, `${name}-1`));
      }
    }
    for (let i = 0; i < 5; i++) {
      server.put("Namespace", raw.namespace(`other-${i}`));
      server.put("Deployment", raw.deployment(`other-${i}`, "app"));
      server.put("Pod", raw.pod(`other-${i}`, "app-1"));
    }
    const calls: string[] = [];
    const inner = writer(server, calls);
    const clock = new FakeClock(T0);
    const cache = new CachedKubeClient({ inner, source: server, logger, now: clock.now });
    const kube = cachedKubeClient(cache, inner);
    const observer = recordingObserver();
    const reconciler = new Reconciler({
      kube,
      config: testConfig(),
      clock,
      observer,
      logger,
      timers: new ManualTimers(clock),
    });
    running.push(() => reconciler.stop());
    await reconciler.start();
    await reconciler.idle();
    expect(reconciler.isReady()).toBe(true);

    for (let i = 0; i < 3; i++) {
      for (const name of ["web", "api", "worker"]) {
        expect(
          (server.object("Deployment", `team-${i}`, name)?.spec as { replicas?: number } | undefined)
            ?.replicas,
        ).toBe(0);
      }
    }
    expect(observer.transitions.filter((t) => t.to === "asleep")).toHaveLength(3);
    expect(observer.apiErrors).toEqual([]);
    // Only writes reached the real client; no read, and no 409 on a stale cache.
    expect(calls.every((c) => c.startsWith("patch") || c === "recordEvent")).toBe(true);
    expect(cache.sizes()).toMatchObject({
      namespaces: 8,
      workloadNamespaces: 3,
      workloads: 9,
      podNamespaces: 3,
    });

    // At rest: further passes cost no LIST and no call at all.
    const lists = server.calls.list - (server.calls.listByKind.get("ScaledObject") ?? 0);
    const writes = calls.length;
    await reconciler.reconcileAll();
    await reconciler.reconcileAll();
    expect(server.calls.list - (server.calls.listByKind.get("ScaledObject") ?? 0)).toBe(lists);
    expect(calls.length).toBe(writes);
  });

  it("reads a Deployment control plane's companions from memory, and nothing of an unmanaged vcluster but its control plane", async () => {
    const server = new FakeApiServer();
    const idle = {
      "slumber.dev/sleep-after": "1h",
      "slumber.dev/persistent": "true",
      "slumber.dev/last-wake": iso(T0 - 3 * 3600_000),
      "slumber.dev/last-activity": iso(T0 - 3 * 3600_000),
    };
    server.put("Namespace", raw.namespace("vc-managed"));
    server.put(
      "Deployment",
      raw.deployment("vc-managed", "m", {
        replicas: 1,
        labels: { app: "vcluster", release: "m" },
        annotations: idle,
      }),
    );
    server.put(
      "StatefulSet",
      raw.statefulSet("vc-managed", "m-etcd", { labels: { app: "vcluster-etcd", release: "m" } }),
    );
    server.put(
      "Deployment",
      raw.deployment("vc-managed", "m-api", { labels: { app: "vcluster-api", release: "m" } }),
    );
    server.put(
      "Deployment",
      raw.deployment("vc-managed", "other-api", { labels: { app: "vcluster-api", release: "x" } }),
    );
    server.put("Namespace", raw.namespace("vc-free"));
    server.put("StatefulSet", raw.statefulSet("vc-free", "f", { labels: { app: "vcluster", release: "f" } }));
    server.put("Pod", raw.pod("vc-free", "f-0", { labels: { app: "vcluster", release: "f" } }));
    server.put("Pod", raw.pod("vc-free", "synced-x", { labels: { "vcluster.loft.sh/managed-by": "f" } }));
    const calls: string[] = [];
    const inner = writer(server, calls);
    const clock = new FakeClock(T0);
    const cache = new CachedKubeClient({ inner, source: server, logger, now: clock.now });
    const reconciler = new Reconciler({
      kube: cachedKubeClient(cache, inner),
      config: testConfig(),
      clock,
      observer: recordingObserver(),
      logger,
      timers: new ManualTimers(clock),
    });
    running.push(() => reconciler.stop());
    await reconciler.start();
    await reconciler.idle();
    // Asleep with its companions paused, every read from memory.
    const replicas = (kind: CachedKind, name: string) =>
      (server.object(kind, "vc-managed", name)?.spec as { replicas?: number } | undefined)?.replicas;
    expect(replicas("Deployment", "m")).toBe(0);
    expect(replicas("StatefulSet", "m-etcd")).toBe(0);
    expect(replicas("Deployment", "m-api")).toBe(0);
    expect(replicas("Deployment", "other-api")).toBe(1);
    expect(calls.every((c) => c.startsWith("patch") || c === "recordEvent")).toBe(true);
    // The unmanaged vcluster's namespace: neither its pods nor its workloads are tracked.
    expect(cache.sizes()).toMatchObject({ workloadNamespaces: 1, podNamespaces: 1 });
    const lists = server.calls.list - (server.calls.listByKind.get("ScaledObject") ?? 0);
    await reconciler.reconcileAll();
    await reconciler.reconcileAll();
    expect(server.calls.list - (server.calls.listByKind.get("ScaledObject") ?? 0)).toBe(lists);
  });
});
