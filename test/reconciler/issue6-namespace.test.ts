// Issue 6, namespace side: KEDA counts (1), one rejected patch (2), activity write failures (5),
// activity that is use and not autoscaling, for namespaces and virtual clusters (6), savings (8).
import { describe, expect, it } from "vitest";
import type { ObjectRef } from "../../src/kube/types.js";
import { DEFAULT_PRICES, podsHourlyCost } from "../../src/metrics/cost.js";
import { Annotations } from "../../src/policy/annotations.js";
import { listTargetViews } from "../../src/reconciler/index.js";
import { harness, T0, testConfig } from "../fakes/harness.js";

const HOUR = 3_600_000;
const MINUTE = 60_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");
const PAUSED = "autoscaling.keda.sh/paused";
const PAUSED_REPLICAS = "autoscaling.keda.sh/paused-replicas";

function team(h = harness()) {
  h.kube.addNamespace("team", { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0) });
  return h;
}

const wakeNow = (h: ReturnType<typeof harness>) =>
  h.kube.externalPatch(
    { kind: "Namespace", namespace: "team", name: "team" },
    { annotations: { [Annotations.lastWake]: iso(h.clock.ms) } },
  );

const sleepThenWake = async (h: ReturnType<typeof harness>) => {
  h.clock.ms = T0 + HOUR;
  await h.reconciler.reconcileAll();
  h.clock.ms = T0 + 2 * HOUR;
  wakeNow(h);
  await h.reconciler.reconcileAll();
};

const kedaAnnotations = (h: ReturnType<typeof harness>, name = "worker") => {
  const a = { ...h.kube.workload("team", "ScaledObject", name).meta.annotations };
  return { paused: a[PAUSED], pausedReplicas: a[PAUSED_REPLICAS] };
};

describe("issue 6 item 1: KEDA keeps the owners' counts", () => {
  it("a ScaledObject frozen with paused: true (Deployment held at 4) wakes at 4 and stays frozen", async () => {
    const h = team();
    h.kube.addWorkload("team", "Deployment", "worker", { replicas: 4 });
    h.kube.addWorkload("team", "ScaledObject", "worker", { annotations: { [PAUSED]: "true" } });
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    expect(h.kube.workload("team", "Deployment", "worker").replicas).toBe(0);
    expect(h.reconciler.views()[0]?.state).toBe("asleep");
    h.clock.ms = T0 + 2 * HOUR;
    wakeNow(h);
    await h.reconciler.reconcileAll();
    expect(h.kube.workload("team", "Deployment", "worker").replicas).toBe(4);
    expect(kedaAnnotations(h)).toEqual({ paused: "true", pausedReplicas: undefined });
    // KEDA still holds the current count: the owners' freeze at 4 is what they had.
    h.kube.autoscale("team", "Deployment", "worker", 9);
    expect(h.kube.workload("team", "Deployment", "worker").replicas).toBe(4);
  });

  it("a ScaledObject deleted while asleep leaves its Deployment to be restored to its own count", async () => {
    const h = team();
    h.kube.addWorkload("team", "Deployment", "worker", { replicas: 4 });
    h.kube.addWorkload("team", "ScaledObject", "worker");
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    expect(h.kube.workload("team", "Deployment", "worker").replicas).toBe(0);
    h.kube.deleteWorkload("team", "ScaledObject", "worker");
    h.clock.ms = T0 + 2 * HOUR;
    wakeNow(h);
    await h.reconciler.reconcileAll();
    expect(h.kube.workload("team", "Deployment", "worker").replicas).toBe(4);
  });

  it("a user's own paused-replicas: 2 is slept to 0 and woken back to exactly 2", async () => {
    const h = team();
    h.kube.addWorkload("team", "Deployment", "worker", { replicas: 5 });
    h.kube.addWorkload("team", "ScaledObject", "worker", { annotations: { [PAUSED_REPLICAS]: "2" } });
    expect(h.kube.workload("team", "Deployment", "worker").replicas).toBe(2); // KEDA applied it
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    expect(h.kube.workload("team", "Deployment", "worker").replicas).toBe(0);
    expect(kedaAnnotations(h).pausedReplicas).toBe("0");
    h.clock.ms = T0 + 2 * HOUR;
    wakeNow(h);
    await h.reconciler.reconcileAll();
    expect(kedaAnnotations(h)).toEqual({ paused: undefined, pausedReplicas: "2" });
    expect(h.kube.workload("team", "Deployment", "worker").replicas).toBe(2);
  });

  it("an unpaused ScaledObject is handed back to KEDA at the count it had", async () => {
    const h = team();
    h.kube.addWorkload("team", "Deployment", "worker", { replicas: 3 });
    h.kube.addWorkload("team", "ScaledObject", "worker");
    await sleepThenWake(h);
    expect(h.kube.workload("team", "Deployment", "worker").replicas).toBe(3);
    expect(kedaAnnotations(h)).toEqual({ paused: undefined, pausedReplicas: undefined });
    const so = h.kube.workload("team", "ScaledObject", "worker").meta.annotations;
    expect(Object.keys(so).filter((k) => k.startsWith("slumber.dev/"))).toEqual([]);
  });
});

describe("issue 6 item 2: one rejected patch does not hold the others back", () => {
  const isApi = (ref: ObjectRef) => ref.kind === "Deployment" && ref.name === "api";

  it("wakes every other workload, reports the failing one, retries it next pass", async () => {
    const h = team();
    h.kube.addWorkload("team", "Deployment", "api", { replicas: 2 });
    h.kube.addWorkload("team", "Deployment", "web", { replicas: 3 });
    h.kube.addWorkload("team", "StatefulSet", "db", { replicas: 1 });
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    const lift = h.kube.denyPatches(isApi);
    h.clock.ms = T0 + 2 * HOUR;
    wakeNow(h);
    h.kube.clearWrites();
    await h.reconciler.reconcileAll();
    expect(h.kube.workload("team", "Deployment", "web").replicas).toBe(3);
    expect(h.kube.workload("team", "StatefulSet", "db").replicas).toBe(1);
    expect(h.kube.workload("team", "Deployment", "api").replicas).toBe(0);
    expect(h.kube.workload("team", "Deployment", "api").meta.annotations[Annotations.originalReplicas]).toBe(
      "2",
    );
    expect(h.observer.apiErrors).toContainEqual({ operation: "patch", code: 403 });
    const warning = h.kube.events.find((e) => e.regarding.name === "api" && e.type === "Warning");
    expect(warning?.note).toContain("403");
    const view = h.reconciler.views()[0];
    expect(view?.state).toBe("awake");
    expect(view?.reason).toContain("Deployment team/api: wake failed");
    // `slumber status` (a read-only pass) tells the same from the objects.
    const status = await listTargetViews(h.kube, testConfig(), h.clock.ms);
    expect(status[0]?.reason).toContain("not yet woken: Deployment team/api");
    // Another pass tries api once more (one attempt per pass, no loop) and reports nothing new.
    const attempts = h.observer.apiErrors.length;
    await h.reconciler.reconcileAll();
    expect(h.observer.apiErrors.length).toBe(attempts + 1);
    expect(h.kube.events.filter((e) => e.regarding.name === "api" && e.type === "Warning")).toHaveLength(1);
    lift();
    await h.reconciler.reconcileAll();
    expect(h.kube.workload("team", "Deployment", "api").replicas).toBe(2);
    expect(h.reconciler.views()[0]?.reason).not.toContain("failed");
  });

  it("puts every other workload to sleep when one is rejected", async () => {
    const h = team();
    h.kube.addWorkload("team", "Deployment", "api", { replicas: 2 });
    h.kube.addWorkload("team", "Deployment", "web", { replicas: 3 });
    h.kube.addWorkload("team", "CronJob", "report", { suspend: false });
    h.kube.denyPatches(isApi);
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    expect(h.kube.workload("team", "Deployment", "web").replicas).toBe(0);
    expect(h.kube.workload("team", "CronJob", "report").suspend).toBe(true);
    expect(h.kube.workload("team", "Deployment", "api").replicas).toBe(2);
    const view = h.reconciler.views()[0];
    expect(view?.state).toBe("asleep");
    expect(view?.reason).toContain("Deployment team/api: sleep failed");
  });
});

describe("issue 6 item 5: a deploy is remembered only once its activity is written", () => {
  for (const failure of [409, 500, "timeout"] as const) {
    it(`keeps the activity pending after a ${failure} on the Namespace and writes it later`, async () => {
      const h = team();
      h.kube.addWorkload("team", "Deployment", "web", { replicas: 1 });
      await h.reconciler.reconcileAll();
      h.clock.ms = T0 + 30 * MINUTE;
      h.kube.deploy("team", "Deployment", "web", "v2");
      h.kube.failNext("patch", failure, (ref) => ref.kind === "Namespace");
      await h.reconciler.reconcileAll();
      h.clock.ms = T0 + 31 * MINUTE;
      await h.reconciler.reconcileAll();
      const last = Date.parse(h.kube.namespace("team").meta.annotations[Annotations.lastActivity] ?? "");
      expect(last).toBeGreaterThanOrEqual(T0 + 30 * MINUTE);
      h.clock.ms = T0 + HOUR + 5 * MINUTE;
      await h.reconciler.reconcileAll();
      expect(h.reconciler.views()[0]?.state).toBe("awake");
    });
  }
});

describe("issue 6 item 6: use is what a person or pipeline changed", () => {
  it("an autoscaler changing replicas is not use; a new template is", async () => {
    const h = team();
    h.kube.addWorkload("team", "Deployment", "web", { replicas: 2 });
    await h.reconciler.reconcileAll();
    h.clock.ms = T0 + 30 * MINUTE;
    h.kube.autoscale("team", "Deployment", "web", 5);
    await h.reconciler.reconcileAll();
    expect(h.kube.namespace("team").meta.annotations[Annotations.lastActivity]).toBe(iso(T0));
    h.clock.ms = T0 + 40 * MINUTE;
    h.kube.deploy("team", "Deployment", "web", "v2");
    await h.reconciler.reconcileAll();
    expect(h.kube.namespace("team").meta.annotations[Annotations.lastActivity]).toBe(iso(T0 + 40 * MINUTE));
  });

  it("Slumber's own sleep and wake are not use", async () => {
    const h = team();
    h.kube.addWorkload("team", "Deployment", "web", { replicas: 2 });
    h.kube.addWorkload("team", "CronJob", "report", { suspend: false });
    await h.reconciler.reconcileAll();
    await sleepThenWake(h);
    h.clock.ms += 10 * MINUTE;
    await h.reconciler.reconcileAll();
    expect(h.kube.namespace("team").meta.annotations[Annotations.lastActivity]).toBe(iso(T0));
  });

  function vcluster() {
    const h = harness();
    h.kube.addControlPlane({
      namespace: "vc-a",
      release: "a",
      replicas: 1,
      annotations: { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0) },
    });
    h.kube.addPod(
      "vc-a",
      "web-1-x-default-x-a",
      { "vcluster.loft.sh/managed-by": "a" },
      { cpu: "1", memory: "1Gi" },
    );
    return h;
  }
  const planeActivity = (h: ReturnType<typeof harness>) =>
    h.kube.controlPlane("vc-a", "a").meta.annotations[Annotations.lastActivity];

  it("a virtual cluster's synced pod appearing or going away is use; a status change is not", async () => {
    const h = vcluster();
    await h.reconciler.reconcileAll();
    h.clock.ms = T0 + 20 * MINUTE;
    h.kube.setPodPhase("vc-a", "web-1-x-default-x-a", "Running");
    await h.reconciler.reconcileAll();
    expect(planeActivity(h)).toBe(iso(T0));
    h.clock.ms = T0 + 30 * MINUTE;
    h.kube.addPod(
      "vc-a",
      "api-1-x-default-x-a",
      { "vcluster.loft.sh/managed-by": "a" },
      { cpu: "1", memory: "1Gi" },
    );
    await h.reconciler.reconcileAll();
    expect(planeActivity(h)).toBe(iso(T0 + 30 * MINUTE));
    h.clock.ms = T0 + 50 * MINUTE;
    h.kube.removePod("vc-a", "web-1-x-default-x-a");
    await h.reconciler.reconcileAll();
    expect(planeActivity(h)).toBe(iso(T0 + 50 * MINUTE));
    h.clock.ms = T0 + HOUR + 30 * MINUTE;
    await h.reconciler.reconcileAll();
    expect(h.reconciler.views()[0]?.state).toBe("awake");
  });

  it("a virtual cluster's own sleep (pods deleted) and wake (pods recreated) are not use", async () => {
    const h = vcluster();
    await h.reconciler.reconcileAll();
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    expect(h.reconciler.views()[0]?.state).toBe("asleep");
    h.clock.ms = T0 + 2 * HOUR;
    h.kube.externalPatch(
      { kind: "StatefulSet", namespace: "vc-a", name: "a" },
      { annotations: { [Annotations.lastWake]: iso(h.clock.ms) } },
    );
    await h.reconciler.reconcileAll();
    expect(h.reconciler.views()[0]?.state).toBe("awake");
    // The syncer recreates the pods right after the wake.
    h.clock.ms += 30_000;
    h.kube.addPod(
      "vc-a",
      "web-2-x-default-x-a",
      { "vcluster.loft.sh/managed-by": "a" },
      { cpu: "1", memory: "1Gi" },
    );
    await h.reconciler.reconcileAll();
    h.clock.ms += 10 * MINUTE;
    await h.reconciler.reconcileAll();
    expect(planeActivity(h)).toBe(iso(T0));
  });

  it("a slow wake settles from when the control plane is ready, not from the wake", async () => {
    const h = vcluster();
    h.kube.autoReady = false;
    await h.reconciler.reconcileAll();
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    h.clock.ms = T0 + 2 * HOUR;
    h.kube.externalPatch(
      { kind: "StatefulSet", namespace: "vc-a", name: "a" },
      { annotations: { [Annotations.lastWake]: iso(h.clock.ms) } },
    );
    await h.reconciler.reconcileAll();
    h.clock.ms += 5 * MINUTE; // still starting
    await h.reconciler.reconcileAll();
    h.kube.setReady("vc-a", "a", 1);
    await h.reconciler.reconcileAll();
    h.clock.ms += 30_000; // ready; the syncer recreates the pods
    h.kube.addPod(
      "vc-a",
      "web-2-x-default-x-a",
      { "vcluster.loft.sh/managed-by": "a" },
      { cpu: "1", memory: "1Gi" },
    );
    await h.reconciler.reconcileAll();
    expect(planeActivity(h)).toBe(iso(T0));
    h.clock.ms += 10 * MINUTE; // settled: a tenant's new pod is use
    h.kube.addPod(
      "vc-a",
      "api-1-x-default-x-a",
      { "vcluster.loft.sh/managed-by": "a" },
      { cpu: "1", memory: "1Gi" },
    );
    await h.reconciler.reconcileAll();
    expect(planeActivity(h)).toBe(iso(h.clock.ms));
  });
});

describe("issue 6 item 8: a namespace's savings price only what sleep stops", () => {
  it("prices the pods of the Deployments and StatefulSets it scales, nothing else", async () => {
    const h = team();
    const requests = { cpu: "1", memory: "1Gi" };
    h.kube.addWorkload("team", "Deployment", "web", { replicas: 2 });
    h.kube.addWorkload("team", "StatefulSet", "db", { replicas: 1 });
    h.kube.addWorkload("team", "Deployment", "pinned", {
      replicas: 1,
      annotations: { [Annotations.exclude]: "true" },
    });
    h.kube.addWorkload("team", "CronJob", "report", { suspend: false });
    const rs = { kind: "ReplicaSet", name: "web-5d9c7" };
    h.kube.addPod("team", "web-5d9c7-a", { app: "web", "pod-template-hash": "5d9c7" }, requests, {
      owner: rs,
    });
    h.kube.addPod("team", "web-5d9c7-b", { app: "web", "pod-template-hash": "5d9c7" }, requests, {
      owner: rs,
    });
    h.kube.addPod("team", "db-0", { app: "db" }, requests, { owner: { kind: "StatefulSet", name: "db" } });
    h.kube.addPod(
      "team",
      "pinned-77f-a",
      { "pod-template-hash": "77f" },
      { cpu: "8", memory: "8Gi" },
      {
        owner: { kind: "ReplicaSet", name: "pinned-77f" },
      },
    );
    h.kube.addPod(
      "team",
      "agent-x1",
      {},
      { cpu: "8", memory: "8Gi" },
      { owner: { kind: "DaemonSet", name: "agent" } },
    );
    h.kube.addPod("team", "debug", {}, { cpu: "8", memory: "8Gi" });
    h.kube.addPod(
      "team",
      "report-2900-z",
      { "batch.kubernetes.io/job-name": "report-2900" },
      { cpu: "8", memory: "8Gi" },
      {
        owner: { kind: "Job", name: "report-2900" },
      },
    );
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    const stopped = [...h.kube.pods.values()].filter((p) =>
      ["web-5d9c7-a", "web-5d9c7-b", "db-0"].includes(p.metadata?.name ?? ""),
    );
    const expected = podsHourlyCost(stopped, DEFAULT_PRICES);
    expect(Number(h.kube.namespace("team").meta.annotations[Annotations.hourlyCostSnapshot])).toBeCloseTo(
      expected,
      6,
    );
  });
});
