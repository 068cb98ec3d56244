// Issue 9: a namespace's sleep and wake write all its workloads in one pass, in bounded parallel, each write
// guarded by resourceVersion; and every per-target structure goes back to baseline when targets go.
import { describe, expect, it } from "vitest";
import type { ObjectMeta, ObjectPatch, ObjectRef } from "../../src/kube/types.js";
import { Annotations } from "../../src/policy/annotations.js";
import { harness, T0 } from "../fakes/harness.js";
import { FakeKube } from "../fakes/kube.js";

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");

/** A FakeKube whose patches take a while, so concurrent writes overlap; records the most in flight. */
class SlowKube extends FakeKube {
  inFlight = 0;
  maxInFlight = 0;
  override async patch(ref: ObjectRef, patch: ObjectPatch): Promise<ObjectMeta> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return await super.patch(ref, patch);
    } finally {
      this.inFlight--;
    }
  }
}

function bigNamespace(kube: FakeKube, deployments: number) {
  kube.addNamespace("big", { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0) });
  for (let i = 0; i < deployments; i++)
    kube.addWorkload("big", "Deployment", `app-${String(i).padStart(2, "0")}`, { replicas: (i % 3) + 1 });
}

describe("namespace writes in waves", () => {
  it("sleeps 40 Deployments in one pass, at most 8 writes at once, each guarded by its resourceVersion", async () => {
    const kube = new SlowKube();
    bigNamespace(kube, 40);
    const h = harness({}, kube);
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    for (let i = 0; i < 40; i++) {
      const w = kube.workload("big", "Deployment", `app-${String(i).padStart(2, "0")}`);
      expect(w.replicas).toBe(0);
      expect(w.meta.annotations[Annotations.originalReplicas]).toBe(String((i % 3) + 1));
    }
    expect(kube.maxInFlight).toBeGreaterThan(1);
    expect(kube.maxInFlight).toBeLessThanOrEqual(8);
    const workloadWrites = kube.writes.filter((w) => w.ref.kind === "Deployment");
    expect(workloadWrites).toHaveLength(40);
    for (const w of workloadWrites) expect(w.patch?.resourceVersion).toBeDefined();
    expect(h.observer.transitions).toEqual([
      { key: "namespace/big/big", to: "asleep", reason: "inactivity" },
    ]);
  });

  it("a 409 on one workload of a wave re-reads and finishes it; the others are written once", async () => {
    const kube = new SlowKube();
    bigNamespace(kube, 20);
    const h = harness({}, kube);
    h.clock.ms = T0 + HOUR;
    kube.failNext("patch", 409, (ref) => ref.name === "app-07");
    await h.reconciler.reconcileAll();
    const writes = kube.writes.filter((w) => w.ref.kind === "Deployment");
    expect(writes).toHaveLength(20);
    expect(new Set(writes.map((w) => w.ref.name)).size).toBe(20);
    expect(kube.workload("big", "Deployment", "app-07").replicas).toBe(0);
    expect(h.observer.apiErrors).toEqual([]);
  });

  it("a workload changed by someone between read and write gets a 409, is read again, and its new count recorded", async () => {
    const kube = new SlowKube();
    bigNamespace(kube, 3);
    const h = harness({}, kube);
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll(); // asleep
    h.clock.ms += 2 * HOUR;
    kube.externalPatch(
      { kind: "Namespace", namespace: "big", name: "big" },
      { annotations: { [Annotations.lastWake]: iso(h.clock.ms) } },
    );
    await h.reconciler.reconcileAll(); // awake again
    expect(kube.workload("big", "Deployment", "app-01").replicas).toBe(2);
    // Stale resourceVersion in flight: the autoscaler moves app-01 after the agent read it.
    const origPatch = kube.patch.bind(kube);
    let moved = false;
    kube.patch = async (ref, patch) => {
      if (!moved && ref.name === "app-01") {
        moved = true;
        kube.autoscale("big", "Deployment", "app-01", 5);
      }
      return origPatch(ref, patch);
    };
    h.clock.ms += 2 * HOUR;
    await h.reconciler.reconcileAll();
    expect(kube.workload("big", "Deployment", "app-01")).toMatchObject({ replicas: 0 });
    expect(kube.workload("big", "Deployment", "app-01").meta.annotations[Annotations.originalReplicas]).toBe(
      "5",
    );
  });

  it("wakes a KEDA pair in two waves: the ScaledObject is handed back before its Deployment is restored", async () => {
    const kube = new SlowKube();
    kube.addNamespace("keda", { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0) });
    kube.addWorkload("keda", "Deployment", "worker", { replicas: 4 });
    kube.addWorkload("keda", "ScaledObject", "worker", {
      scaleTarget: { kind: "Deployment", name: "worker" },
    });
    kube.addWorkload("keda", "Deployment", "web", { replicas: 2 });
    const h = harness({}, kube);
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    const sleepOrder = kube.writes.map((w) => `${w.ref.kind}/${w.ref.name}`);
    expect(sleepOrder.indexOf("ScaledObject/worker")).toBeGreaterThan(
      sleepOrder.indexOf("Deployment/worker"),
    );
    kube.clearWrites();
    h.clock.ms += HOUR;
    kube.externalPatch(
      { kind: "Namespace", namespace: "keda", name: "keda" },
      { annotations: { [Annotations.lastWake]: iso(h.clock.ms) } },
    );
    await h.reconciler.reconcileAll();
    const wakeOrder = kube.writes.map((w) => `${w.ref.kind}/${w.ref.name}`);
    expect(wakeOrder.indexOf("ScaledObject/worker")).toBeLessThan(wakeOrder.indexOf("Deployment/worker"));
    expect(wakeOrder.at(-1)).toBe("Namespace/keda");
    expect(kube.workload("keda", "Deployment", "worker").replicas).toBe(4);
    expect(kube.workload("keda", "Deployment", "web").replicas).toBe(2);
  });
});

describe("reconciler memory", () => {
  it("2,000 preview namespaces created and deleted (some malformed, some with failing writes) leave every map at baseline", async () => {
    const h = harness();
    h.kube.addNamespace("stays", { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0) });
    h.kube.addWorkload("stays", "Deployment", "web", { replicas: 1 });
    await h.reconciler.start();
    const baseline = h.reconciler.memorySizes();
    for (let batch = 0; batch < 4; batch++) {
      const names = Array.from({ length: 500 }, (_, i) => `preview-${batch}-${i}`);
      for (const [i, ns] of names.entries()) {
        const annotations: Record<string, string> =
          i % 10 === 0
            ? { [Annotations.sleepAfter]: "soon" } // malformed: reported as a PolicyError
            : { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(h.clock.ms - 2 * HOUR) };
        h.kube.addNamespace(ns, annotations);
        h.kube.addWorkload(ns, "Deployment", "web", { replicas: 2 });
      }
      // Every tenth workload refuses its sleep write: reported per workload, kept in the target's REASON.
      const undeny = h.kube.denyPatches(
        (ref) => ref.kind === "Deployment" && ref.name === "web" && ref.namespace.endsWith("5"),
      );
      await h.reconciler.reconcileAll();
      undeny();
      const during = h.reconciler.memorySizes();
      expect(during.views).toBeGreaterThanOrEqual(501);
      for (const ns of names) h.kube.deleteNamespace(ns);
      await h.reconciler.reconcileAll();
      await h.reconciler.idle();
    }
    expect(h.reconciler.memorySizes()).toEqual(baseline);
    await h.reconciler.stop();
  });
});

describe("timers and reports", () => {
  it("a resync stopped and started while its pass runs keeps one chain of timers", async () => {
    const { Resync } = await import("../../src/reconciler/timers.js");
    const h = harness();
    let passes = 0;
    let release: () => void = () => {};
    const resync = new Resync(h.timers, 1_000, async () => {
      passes++;
      await new Promise<void>((resolve) => (release = resolve));
    });
    resync.start();
    h.timers.advance(1_000); // pass 1 starts and waits
    resync.stop();
    resync.start();
    release(); // pass 1 ends after the restart
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(h.timers.dueTimes()).toHaveLength(1);
    resync.stop();
    expect(passes).toBe(1);
  });

  it("NotPersistent is reported again (a new Event) when it comes back after it was resolved", async () => {
    const h = harness();
    h.kube.addControlPlane({
      namespace: "vc",
      release: "a",
      replicas: 1,
      volumeClaims: false,
      annotations: { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0) },
    });
    h.clock.ms = T0 + 2 * HOUR;
    await h.reconciler.reconcileAll();
    const ref = { kind: "StatefulSet" as const, namespace: "vc", name: "a" };
    h.kube.externalPatch(ref, { annotations: { [Annotations.lastActivity]: iso(h.clock.ms) } });
    await h.reconciler.reconcileAll(); // active again: NotPersistent no longer holds
    h.clock.ms += 2 * HOUR;
    await h.reconciler.reconcileAll();
    expect(h.kube.events.filter((e) => e.reason === "NotPersistent")).toHaveLength(2);
  });
});

describe("work queue", () => {
  it("drains with bounded concurrency, each target once, never two passes of one target at once", async () => {
    const { WorkQueue, TargetLocks } = await import("../../src/reconciler/queue.js");
    const locks = new TargetLocks();
    let inFlight = 0;
    let maxInFlight = 0;
    const seen: string[] = [];
    const queue = new WorkQueue(
      (ref) =>
        locks.exclusive(ref, async () => {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          seen.push(ref.name);
          await new Promise((resolve) => setTimeout(resolve, 2));
          inFlight--;
        }),
      8,
    );
    queue.start();
    for (let i = 0; i < 100; i++) queue.add({ kind: "namespace", namespace: `n${i}`, name: `n${i}` });
    for (let i = 0; i < 100; i++) queue.add({ kind: "namespace", namespace: `n${i}`, name: `n${i}` });
    await queue.idle();
    // Each target at least once; one added again while its pass ran gets another pass (it may have changed).
    expect(new Set(seen).size).toBe(100);
    expect(seen.length).toBeLessThanOrEqual(108);
    expect(maxInFlight).toBe(8);
    // Added while draining: still processed.
    queue.add({ kind: "namespace", namespace: "late", name: "late" });
    await queue.idle();
    expect(seen.at(-1)).toBe("late");
    await queue.stop();
  });
});
