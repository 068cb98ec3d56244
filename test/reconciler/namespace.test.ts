import { describe, expect, it } from "vitest";
import { Annotations } from "../../src/policy/annotations.js";
import { BookkeepingAnnotations } from "../../src/targets/bookkeeping.js";
import { harness, T0 } from "../fakes/harness.js";

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");

function namespaceSetup() {
  const h = harness();
  h.kube.addNamespace("team", { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0) });
  h.kube.addWorkload("team", "Deployment", "web", { replicas: 3 });
  h.kube.addWorkload("team", "StatefulSet", "db", { replicas: 1 });
  h.kube.addWorkload("team", "Deployment", "idle", { replicas: 0 });
  h.kube.addWorkload("team", "Deployment", "pinned", {
    replicas: 2,
    annotations: { [Annotations.exclude]: "true" },
  });
  h.kube.addWorkload("team", "CronJob", "report", { suspend: false });
  h.kube.addWorkload("team", "Deployment", "worker", { replicas: 4 });
  h.kube.addWorkload("team", "ScaledObject", "worker", {
    scaleTarget: { kind: "Deployment", name: "worker" },
  });
  return h;
}

const wake = (h: ReturnType<typeof harness>) =>
  h.kube.externalPatch(
    { kind: "Namespace", namespace: "team", name: "team" },
    { annotations: { [Annotations.lastWake]: iso(h.clock.ms) } },
  );

describe("namespace targets", () => {
  it("sleeps every workload but excluded ones; a KEDA-driven Deployment is scaled and its ScaledObject paused", async () => {
    const h = namespaceSetup();
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    expect(h.kube.namespace("team").meta.annotations[Annotations.sleepingSince]).toBe(iso(T0 + HOUR));
    expect(h.kube.workload("team", "Deployment", "web")).toMatchObject({ replicas: 0 });
    expect(h.kube.workload("team", "Deployment", "web").meta.annotations[Annotations.originalReplicas]).toBe(
      "3",
    );
    expect(h.kube.workload("team", "StatefulSet", "db").replicas).toBe(0);
    expect(
      h.kube.workload("team", "Deployment", "idle").meta.annotations[Annotations.originalReplicas],
    ).toBeUndefined();
    expect(h.kube.workload("team", "Deployment", "pinned").replicas).toBe(2);
    const cron = h.kube.workload("team", "CronJob", "report");
    expect(cron.suspend).toBe(true);
    expect(cron.meta.annotations[Annotations.originalSuspend]).toBe("false");
    expect(
      h.kube.workload("team", "ScaledObject", "worker").meta.annotations[Annotations.kedaPausedReplicas],
    ).toBe("0");
    // Its own count is recorded on it, so a ScaledObject deleted while asleep loses nothing.
    const worker = h.kube.workload("team", "Deployment", "worker");
    expect(worker.replicas).toBe(0);
    expect(worker.meta.annotations[Annotations.originalReplicas]).toBe("4");
    expect(h.reconciler.views()).toMatchObject([{ kind: "namespace", name: "team", state: "asleep" }]);
  });

  it("a full pass and a watch-triggered pass at once record the sleep once", async () => {
    const h = namespaceSetup();
    h.clock.ms = T0 + HOUR;
    const ref = { kind: "namespace", namespace: "team", name: "team" } as const;
    await Promise.all([
      h.reconciler.reconcileAll(),
      h.reconciler.reconcileTarget(ref),
      h.reconciler.reconcileAll(),
    ]);
    expect(h.observer.transitions).toEqual([
      { key: "namespace/team/team", to: "asleep", reason: "inactivity" },
    ]);
    const records = h.kube.writes.filter(
      (w) => w.ref.kind === "Namespace" && w.patch?.annotations?.[Annotations.sleepingSince] !== undefined,
    );
    expect(records).toHaveLength(1);
    expect(h.kube.workload("team", "Deployment", "web").meta.annotations[Annotations.originalReplicas]).toBe(
      "3",
    );
  });

  it("wakes everything it changed and nothing else; pre-existing 0 stays 0", async () => {
    const h = namespaceSetup();
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    h.clock.ms = T0 + 2 * HOUR;
    wake(h);
    await h.reconciler.reconcileAll();
    expect(h.kube.workload("team", "Deployment", "web").replicas).toBe(3);
    expect(
      h.kube.workload("team", "Deployment", "web").meta.annotations[Annotations.originalReplicas],
    ).toBeUndefined();
    expect(h.kube.workload("team", "StatefulSet", "db").replicas).toBe(1);
    expect(h.kube.workload("team", "Deployment", "idle").replicas).toBe(0);
    expect(h.kube.workload("team", "CronJob", "report").suspend).toBe(false);
    const scaled = h.kube.workload("team", "ScaledObject", "worker").meta.annotations;
    expect(scaled[Annotations.kedaPausedReplicas]).toBeUndefined();
    expect(scaled[BookkeepingAnnotations.kedaPausedBySlumber]).toBeUndefined();
    const ns = h.kube.namespace("team").meta.annotations;
    expect(ns[Annotations.sleepingSince]).toBeUndefined();
    expect(ns[BookkeepingAnnotations.asleepSecondsTotal]).toBe("3600");
    expect(h.observer.wakes).toHaveLength(1);
    const writes = h.kube.writes.length;
    await h.reconciler.reconcileAll();
    expect(h.kube.writes).toHaveLength(writes);
  });

  it("puts to sleep a workload created while asleep, and undoes a scale-up while asleep with an Event", async () => {
    const h = namespaceSetup();
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    h.kube.clearWrites();
    h.kube.addWorkload("team", "Deployment", "new", { replicas: 2 });
    h.kube.externalPatch({ kind: "Deployment", namespace: "team", name: "web" }, { replicas: 3 });
    await h.reconciler.reconcileAll();
    expect(h.kube.workload("team", "Deployment", "new").replicas).toBe(0);
    expect(h.kube.workload("team", "Deployment", "web").replicas).toBe(0);
    expect(h.kube.workload("team", "Deployment", "web").meta.annotations[Annotations.originalReplicas]).toBe(
      "3",
    );
    expect(h.kube.events.map((e) => e.reason)).toEqual(["RevertUndone"]);
    expect(h.kube.namespace("team").meta.annotations[Annotations.lastActivity]).toBe(iso(T0));
    h.clock.ms = T0 + 2 * HOUR;
    wake(h);
    await h.reconciler.reconcileAll();
    expect(h.kube.workload("team", "Deployment", "new").replicas).toBe(2);
  });

  it("counts a deploy (a new template) made by someone else while awake as activity, at most once a minute", async () => {
    const h = namespaceSetup();
    await h.reconciler.reconcileAll();
    h.clock.ms = T0 + 30 * 60_000;
    h.kube.deploy("team", "Deployment", "web", "v2");
    await h.reconciler.reconcileAll();
    expect(h.kube.namespace("team").meta.annotations[Annotations.lastActivity]).toBe(iso(T0 + 30 * 60_000));
    h.clock.ms += 10_000;
    h.kube.deploy("team", "Deployment", "web", "v3");
    await h.reconciler.reconcileAll();
    expect(h.kube.namespace("team").meta.annotations[Annotations.lastActivity]).toBe(iso(T0 + 30 * 60_000));
    h.clock.ms = T0 + HOUR + 60_000;
    await h.reconciler.reconcileAll();
    expect(h.kube.workload("team", "Deployment", "web").replicas).toBe(3);
  });

  it("finishes a sleep and a wake interrupted after every write, restoring every count", async () => {
    const probe = namespaceSetup();
    probe.clock.ms = T0 + HOUR;
    await probe.reconciler.reconcileAll();
    const total = probe.kube.writes.length;
    for (let n = 1; n <= total; n++) {
      const h = namespaceSetup();
      h.clock.ms = T0 + HOUR;
      h.kube.crashAfterWrites(n);
      await h.reconciler.reconcileAll();
      h.kube.revive(); // the agent restarted
      const restarted = harness({}, h.kube);
      restarted.clock.ms = h.clock.ms;
      await restarted.reconciler.reconcileAll();
      expect(h.kube.workload("team", "Deployment", "web").replicas, `crash at ${n}`).toBe(0);
      restarted.clock.ms = T0 + 2 * HOUR;
      wake(restarted);
      restarted.kube.crashAfterWrites(2);
      await restarted.reconciler.reconcileAll();
      restarted.kube.revive(); // restarted once more
      await restarted.reconciler.reconcileAll();
      expect(h.kube.workload("team", "Deployment", "web").replicas, `crash at ${n}`).toBe(3);
      expect(h.kube.workload("team", "StatefulSet", "db").replicas, `crash at ${n}`).toBe(1);
      expect(h.kube.workload("team", "Deployment", "idle").replicas, `crash at ${n}`).toBe(0);
      expect(h.kube.workload("team", "CronJob", "report").suspend, `crash at ${n}`).toBe(false);
    }
  });

  it("ignores namespaces nobody opted in and namespaces hosting a vcluster", async () => {
    const h = harness();
    h.kube.addNamespace("plain");
    h.kube.addWorkload("plain", "Deployment", "app", { replicas: 1 });
    h.kube.addControlPlane({
      namespace: "vc-a",
      release: "a",
      annotations: { [Annotations.enabled]: "true", [Annotations.lastWake]: iso(T0) },
    });
    await h.reconciler.reconcileAll();
    expect(h.reconciler.views().map((v) => `${v.kind}/${v.name}`)).toEqual(["vcluster/a"]);
    expect(h.kube.writes).toHaveLength(0);
  });
});
