// Issue 6, vcluster side: what the real `vcluster pause`/`resume` (v0.36, pkg/lifecycle, pkg/cli/pause_helm.go,
// pkg/cli/find) writes and reads, the time Slumber dates a foreign pause at, reverts, and what a sleep prices.
import { describe, expect, it } from "vitest";
import type { ObjectRef } from "../../src/kube/types.js";
import { DEFAULT_PRICES } from "../../src/metrics/cost.js";
import { Annotations } from "../../src/policy/annotations.js";
import { harness, T0 } from "../fakes/harness.js";

const HOUR = 3_600_000;
const MINUTE = 60_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");
/** What a pod requesting `cpu` cores and `memGiB` GiB costs per hour at the default prices. */
const price = (cpu: number, memGiB: number) =>
  cpu * DEFAULT_PRICES.cpuCoreHour + memGiB * DEFAULT_PRICES.memoryGiBHour;
const SYNCED = "vcluster.loft.sh/managed-by";

const sts = (name = "a"): ObjectRef => ({ kind: "StatefulSet", namespace: "vc-a", name });
const deployment = (name: string): ObjectRef => ({ kind: "Deployment", namespace: "vc-a", name });

/** `time.Now().Format("2006-01-02T15:04:05.000Z")` in a zone `offsetHours` from UTC: local wall time, literal Z. */
const cliPausedDate = (ms: number, offsetHours: number) =>
  new Date(ms + offsetHours * HOUR).toISOString().replace(/\.\d{3}Z$/, ".000Z");

/** One merge patch, as `vcluster pause` writes it on each object it scales (prepareScaleDown). */
function cliPause(h: ReturnType<typeof harness>, ref: ObjectRef, replicas: number, date: string) {
  h.kube.externalPatch(ref, {
    replicas: 0,
    annotations: {
      [Annotations.loftPaused]: "true",
      [Annotations.loftPausedReplicas]: String(replicas),
      [Annotations.loftPausedDate]: date,
    },
  });
}

/** One merge patch, as `vcluster resume` writes it (scaleUp*): annotations removed, replicas = Atoi(paused-replicas). */
function cliResume(h: ReturnType<typeof harness>, ref: ObjectRef, replicas: number) {
  h.kube.externalPatch(ref, {
    replicas,
    annotations: {
      [Annotations.loftPaused]: null,
      [Annotations.loftPausedReplicas]: null,
      [Annotations.loftPausedDate]: null,
    },
  });
}

const wakeNow = (h: ReturnType<typeof harness>, ref: ObjectRef = sts()) =>
  h.kube.externalPatch(ref, { annotations: { [Annotations.lastWake]: iso(h.clock.ms) } });

function statefulSetVcluster(annotations: Record<string, string> = {}, replicas = 2) {
  const h = harness();
  h.kube.addControlPlane({
    namespace: "vc-a",
    release: "a",
    replicas,
    annotations: { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0), ...annotations },
  });
  h.kube.addPod("vc-a", "web-x-default-x-a", { [SYNCED]: "a" }, { cpu: "1", memory: "1Gi" });
  return h;
}

/** A Deployment control plane with a deployed etcd, as the vcluster chart lays it out, plus split api/controller. */
function deploymentVcluster(annotations: Record<string, string> = {}) {
  const h = harness();
  h.kube.addControlPlane({
    namespace: "vc-a",
    release: "a",
    kind: "Deployment",
    replicas: 1,
    annotations: { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0), ...annotations },
  });
  h.kube.setVclusterConfig(
    "vc-a",
    "a",
    "controlPlane:\n  backingStore:\n    etcd:\n      deploy:\n        enabled: true\n",
  );
  h.kube.addWorkload("vc-a", "StatefulSet", "a-etcd", {
    replicas: 3,
    labels: { app: "vcluster-etcd", release: "a" },
  });
  h.kube.addWorkload("vc-a", "Deployment", "a-api", {
    replicas: 2,
    labels: { app: "vcluster-api", release: "a" },
  });
  h.kube.addWorkload("vc-a", "Deployment", "a-controller", {
    replicas: 1,
    labels: { app: "vcluster-controller", release: "a" },
  });
  // Another virtual cluster's etcd in the same namespace is not ours to touch.
  h.kube.addWorkload("vc-a", "StatefulSet", "b-etcd", {
    replicas: 1,
    labels: { app: "vcluster-etcd", release: "b" },
  });
  for (let i = 0; i < 3; i++)
    h.kube.addPod("vc-a", `a-etcd-${i}`, { app: "vcluster-etcd", release: "a" }, { cpu: "1", memory: "2Gi" });
  h.kube.addPod("vc-a", "a-api-x1", { app: "vcluster-api", release: "a" }, { cpu: "500m", memory: "1Gi" });
  h.kube.addPod("vc-a", "web-x-default-x-a", { [SYNCED]: "a" }, { cpu: "1", memory: "1Gi" });
  return h;
}

const COMPANIONS = [
  { ref: { kind: "StatefulSet", namespace: "vc-a", name: "a-etcd" }, replicas: 3 },
  { ref: { kind: "Deployment", namespace: "vc-a", name: "a-api" }, replicas: 2 },
  { ref: { kind: "Deployment", namespace: "vc-a", name: "a-controller" }, replicas: 1 },
] as const;

const companion = (h: ReturnType<typeof harness>, ref: ObjectRef) =>
  h.kube.workload(ref.namespace, ref.kind as "StatefulSet" | "Deployment", ref.name);

describe("issue 6 item 4: a `vcluster pause` is dated when Slumber first sees it, never by loft.sh/paused-date", () => {
  it("keeps a cluster paused in New York asleep, and counts savings only from when it was seen", async () => {
    // Used at 09:30 UTC; paused with the CLI at 10:00 UTC from New York, which writes 05:00 local as "05:00Z".
    const h = statefulSetVcluster({ [Annotations.lastActivity]: iso(T0 - 30 * MINUTE) });
    await h.reconciler.reconcileAll();
    cliPause(h, sts(), 2, cliPausedDate(T0, -5));
    h.clock.ms = T0 + 5_000;
    await h.reconciler.reconcileAll();
    let plane = h.kube.controlPlane("vc-a", "a");
    expect(plane.replicas).toBe(0);
    expect(plane.meta.annotations[Annotations.loftPaused]).toBe("true");
    expect(plane.meta.annotations[Annotations.manualSleep]).toBe(iso(T0 + 5_000));
    expect(plane.meta.annotations[Annotations.sleepingSince]).toBe(iso(T0 + 5_000));
    expect(h.reconciler.views()[0]).toMatchObject({ state: "asleep", desired: "asleep", savedSoFar: 0 });

    // A restarted agent an hour later neither re-dates nor resumes it.
    const restarted = harness({}, h.kube);
    restarted.clock.ms = T0 + HOUR;
    await restarted.reconciler.reconcileAll();
    plane = h.kube.controlPlane("vc-a", "a");
    expect(plane.replicas).toBe(0);
    expect(plane.meta.annotations[Annotations.sleepingSince]).toBe(iso(T0 + 5_000));
    const view = restarted.reconciler.views()[0];
    expect(view?.state).toBe("asleep");
    const cost = Number(plane.meta.annotations[Annotations.hourlyCostSnapshot]);
    expect(cost).toBeCloseTo(price(0.2, 0.25) + price(1, 1), 6); // plane + synced pod, still there when seen
    expect(view?.savedSoFar).toBeCloseTo((cost * (HOUR - 5_000)) / HOUR, 9);
  });

  it("also ignores a paused-date written east of UTC (in the future) and an unreadable one", async () => {
    for (const date of [cliPausedDate(T0, +9), "yesterday-ish"]) {
      const h = statefulSetVcluster({ [Annotations.lastActivity]: iso(T0 - 30 * MINUTE) });
      cliPause(h, sts(), 2, date);
      h.clock.ms = T0 + 2_000;
      await h.reconciler.reconcileAll();
      const plane = h.kube.controlPlane("vc-a", "a");
      expect(plane.replicas, date).toBe(0);
      expect(plane.meta.annotations[Annotations.manualSleep], date).toBe(iso(T0 + 2_000));
    }
  });
});

describe("issue 6 item 7: a GitOps revert of a paused vcluster is undone with an Event", () => {
  it("says RevertUndone when replicas come back while loft.sh/paused is set", async () => {
    const h = statefulSetVcluster();
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    h.kube.clearWrites();
    h.kube.externalPatch(sts(), { replicas: 2 });
    await h.reconciler.reconcileAll();
    expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(0);
    const reverts = h.kube.events.filter((e) => e.reason === "RevertUndone");
    expect(reverts).toHaveLength(1);
    expect(reverts[0]).toMatchObject({ type: "Warning", regarding: { kind: "StatefulSet", name: "a" } });
  });

  it("undoes a revert of a cluster paused with the CLI as well", async () => {
    const h = statefulSetVcluster();
    cliPause(h, sts(), 2, cliPausedDate(T0, 0));
    h.clock.ms = T0 + MINUTE;
    await h.reconciler.reconcileAll();
    h.kube.externalPatch(sts(), { replicas: 2 });
    await h.reconciler.reconcileAll();
    expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(0);
    expect(h.kube.events.map((e) => e.reason)).toContain("RevertUndone");
  });

  it("finishes a sleep interrupted between the record and the scale-down without calling it a revert", async () => {
    const h = statefulSetVcluster();
    h.clock.ms = T0 + HOUR;
    h.kube.crashAfterWrites(2); // the record is written, the process dies before replicas 0
    await h.reconciler.reconcileAll();
    expect(h.kube.controlPlane("vc-a", "a")).toMatchObject({ replicas: 2 });
    h.kube.revive(); // the agent restarted
    const restarted = harness({}, h.kube);
    restarted.clock.ms = h.clock.ms + 5_000;
    await restarted.reconciler.reconcileAll();
    expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(0);
    expect(h.kube.events.map((e) => e.reason)).not.toContain("RevertUndone");
  });
});

describe("issue 6 item 10: parity with `vcluster pause`/`resume` v0.36", () => {
  it("writes loft.sh/paused-date in the CLI's layout (UTC, milliseconds), so the pause looks like the CLI's", async () => {
    const h = statefulSetVcluster();
    h.clock.ms = T0 + HOUR + 123;
    await h.reconciler.reconcileAll();
    const a = h.kube.controlPlane("vc-a", "a").meta.annotations;
    expect(a[Annotations.loftPaused]).toBe("true");
    expect(a[Annotations.loftPausedDate]).toBe("2025-03-03T11:00:00.123Z");
  });

  it("(a) pauses a Deployment control plane's etcd StatefulSet and api/controller Deployments like the CLI, and wakes them", async () => {
    const h = deploymentVcluster();
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(0);
    for (const { ref, replicas } of COMPANIONS) {
      const w = companion(h, ref);
      expect(w.replicas, ref.name).toBe(0);
      expect(w.meta.annotations[Annotations.loftPaused], ref.name).toBe("true");
      expect(w.meta.annotations[Annotations.loftPausedReplicas], ref.name).toBe(String(replicas));
      expect(w.meta.annotations[Annotations.loftPausedDate], ref.name).toMatch(
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
      );
    }
    expect(h.kube.workload("vc-a", "StatefulSet", "b-etcd").replicas).toBe(1);
    // Settled: another pass writes nothing.
    h.kube.clearWrites();
    await h.reconciler.reconcileAll();
    expect(h.kube.writes).toEqual([]);

    h.clock.ms = T0 + 2 * HOUR;
    wakeNow(h, deployment("a"));
    await h.reconciler.reconcileAll();
    expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(1);
    for (const { ref, replicas } of COMPANIONS) {
      const w = companion(h, ref);
      expect(w.replicas, ref.name).toBe(replicas);
      expect(w.meta.annotations[Annotations.loftPaused], ref.name).toBeUndefined();
      expect(w.meta.annotations[Annotations.loftPausedReplicas], ref.name).toBeUndefined();
      expect(w.meta.annotations[Annotations.loftPausedDate], ref.name).toBeUndefined();
    }
  });

  it("(a) after a Slumber sleep, `vcluster resume` finds everything paused and Slumber records the deliberate wake", async () => {
    const h = deploymentVcluster();
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    // ResumeVCluster: the control plane must be paused ("couldn't find a paused vcluster" otherwise), then api,
    // controller, etcd, each only when paused.
    h.clock.ms = T0 + 2 * HOUR;
    for (const ref of [deployment("a"), ...COMPANIONS.map((c) => c.ref)]) {
      const w = ref.name === "a" ? h.kube.controlPlane("vc-a", "a") : companion(h, ref);
      expect(w.meta.annotations[Annotations.loftPaused], ref.name).toBe("true");
      cliResume(h, ref, Number(w.meta.annotations[Annotations.loftPausedReplicas]));
    }
    await h.reconciler.reconcileAll();
    expect(h.kube.controlPlane("vc-a", "a").meta.annotations[Annotations.lastWake]).toBe(iso(T0 + 2 * HOUR));
    expect(companion(h, COMPANIONS[0].ref).replicas).toBe(3);
    expect(h.reconciler.views()[0]?.state).toBe("awake");
  });

  it("(a) wakes the etcd a `vcluster pause` stopped, so a later `vcluster resume` is not needed", async () => {
    const h = deploymentVcluster();
    await h.reconciler.reconcileAll();
    h.clock.ms = T0 + 10 * MINUTE;
    cliPause(h, deployment("a"), 1, cliPausedDate(h.clock.ms, 0));
    cliPause(h, COMPANIONS[1].ref, 2, cliPausedDate(h.clock.ms, 0));
    cliPause(h, COMPANIONS[2].ref, 1, cliPausedDate(h.clock.ms, 0));
    cliPause(h, COMPANIONS[0].ref, 3, cliPausedDate(h.clock.ms, 0));
    await h.reconciler.reconcileAll();
    h.clock.ms = T0 + 20 * MINUTE;
    wakeNow(h, deployment("a"));
    await h.reconciler.reconcileAll();
    expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(1);
    for (const { ref, replicas } of COMPANIONS) {
      expect(companion(h, ref).replicas, ref.name).toBe(replicas);
      expect(companion(h, ref).meta.annotations[Annotations.loftPaused], ref.name).toBeUndefined();
    }
  });

  it("(a) leaves an etcd StatefulSet alone beside a StatefulSet control plane, as the CLI does", async () => {
    const h = statefulSetVcluster();
    h.kube.addWorkload("vc-a", "StatefulSet", "a-etcd", {
      replicas: 3,
      labels: { app: "vcluster-etcd", release: "a" },
    });
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(0);
    expect(h.kube.workload("vc-a", "StatefulSet", "a-etcd").replicas).toBe(3);
  });

  it.each([
    ["a full pass", (h: ReturnType<typeof harness>) => h.reconciler.reconcileAll()],
    [
      "a watch-triggered pass",
      async (h: ReturnType<typeof harness>) => {
        await h.reconciler.reconcileTarget({ kind: "vcluster", namespace: "vc-a", name: "a" });
      },
    ],
  ])(
    "(b) deletes the pods of the namespaces a multi-namespace vcluster manages, and no others (%s)",
    async (_, pass) => {
      const h = statefulSetVcluster();
      h.kube.addNamespace("team-x", {}, { [SYNCED]: "vc-a-x-a" });
      h.kube.addPod("team-x", "api-1", { app: "api" }, { cpu: "1", memory: "1Gi" });
      h.kube.addNamespace("other-x", {}, { [SYNCED]: "vc-b-x-a" });
      h.kube.addPod("other-x", "api-1", { app: "api" }, { cpu: "1", memory: "1Gi" });
      h.clock.ms = T0 + HOUR;
      await pass(h);
      expect([...h.kube.pods.keys()].sort()).toEqual(["other-x/api-1", "vc-a/a-0"]);
      h.kube.clearWrites();
      await pass(h);
      expect(h.kube.writes).toEqual([]);
    },
  );

  it("(b) finds managed namespaces by vcluster's SafeConcatName when <NS>-x-<NAME> is over 63 characters", async () => {
    const h = harness();
    const host = `vcluster-${"h".repeat(40)}`;
    const release = "r".repeat(30);
    h.kube.addControlPlane({
      namespace: host,
      release,
      annotations: { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0) },
    });
    // translate.SafeConcatName(host, "x", release): first 52 characters, "-", 10 hex of sha256 of the whole.
    const full = `${host}-x-${release}`;
    const { createHash } = await import("node:crypto");
    const marker = `${full.slice(0, 52)}-${createHash("sha256").update(full).digest("hex").slice(0, 10)}`;
    expect(marker).toHaveLength(63);
    h.kube.addNamespace("long-x", {}, { [SYNCED]: marker });
    h.kube.addPod("long-x", "api-1", { app: "api" }, { cpu: "1", memory: "1Gi" });
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    expect(h.kube.pods.has("long-x/api-1")).toBe(false);
  });

  it("(c) leaves a plane alone while `vcluster restore` holds it (loft.sh/restoring), counting it as paused", async () => {
    const policies: Record<string, string>[] = [
      { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0) }, // would sleep at T0+1h
      { [Annotations.force]: "awake" }, // would wake
    ];
    for (const policy of policies) {
      const h = statefulSetVcluster(policy);
      await h.reconciler.reconcileAll();
      // PauseVCluster(isRestore=true) on a running cluster.
      h.kube.externalPatch(sts(), {
        replicas: 0,
        annotations: {
          "loft.sh/restoring": "true",
          [Annotations.loftPausedReplicas]: "2",
          [Annotations.loftPausedDate]: cliPausedDate(T0, -5),
        },
      });
      h.kube.clearWrites();
      h.clock.ms = T0 + 2 * HOUR;
      await h.reconciler.reconcileAll();
      expect(h.kube.writes, JSON.stringify(policy)).toEqual([]);
      expect(
        h.kube.events.map((e) => e.reason),
        JSON.stringify(policy),
      ).toEqual([]);
      expect(h.reconciler.views()[0]?.state).toBe("asleep");
      expect(h.reconciler.views()[0]?.policyErrors).toEqual([]);
    }
  });

  it("(c) takes the resume that ends a restore of a sleeping cluster as a deliberate wake, not a revert", async () => {
    const h = statefulSetVcluster();
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    // ResumeVCluster(isRestore=true) on a plane paused by Slumber: it removes loft.sh/restoring (absent),
    // paused-replicas and paused-date, restores the replicas, and leaves loft.sh/paused behind.
    h.clock.ms = T0 + 2 * HOUR;
    h.kube.externalPatch(sts(), {
      replicas: 2,
      annotations: { [Annotations.loftPausedReplicas]: null, [Annotations.loftPausedDate]: null },
    });
    await h.reconciler.reconcileAll();
    const plane = h.kube.controlPlane("vc-a", "a");
    expect(plane.replicas).toBe(2);
    expect(plane.meta.annotations[Annotations.loftPaused]).toBeUndefined();
    expect(plane.meta.annotations[Annotations.sleepingSince]).toBeUndefined();
    expect(plane.meta.annotations[Annotations.lastWake]).toBe(iso(T0 + 2 * HOUR));
    expect(h.kube.events.map((e) => e.reason)).not.toContain("RevertUndone");
    expect(h.reconciler.views()[0]?.state).toBe("awake");
  });

  it('(d) wakes a pause recorded with paused-replicas "0" to the configured replicas, never to a stopped plane', async () => {
    const h = statefulSetVcluster({}, 3);
    h.kube.setVclusterConfig(
      "vc-a",
      "a",
      "controlPlane:\n  statefulSet:\n    highAvailability:\n      replicas: 3\n",
    );
    cliPause(h, sts(), 0, cliPausedDate(T0, 0));
    h.clock.ms = T0 + MINUTE;
    await h.reconciler.reconcileAll();
    h.clock.ms = T0 + 2 * MINUTE;
    wakeNow(h);
    await h.reconciler.reconcileAll();
    expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(3);
  });
});

describe("issue 6 item 11: sleep.auto.exclude.selector.labels keeps matching pods running", () => {
  it("neither deletes nor prices synced pods matching the exclude selector", async () => {
    const h = statefulSetVcluster();
    h.kube.setVclusterConfig(
      "vc-a",
      "a",
      'sleep:\n  auto:\n    exclude:\n      selector:\n        labels:\n          keep: "true"\n',
    );
    h.kube.addPod("vc-a", "db-x-default-x-a", { [SYNCED]: "a", keep: "true" }, { cpu: "4", memory: "8Gi" });
    h.kube.addPod("vc-a", "half-x-default-x-a", { [SYNCED]: "a", keep: "no" }, { cpu: "1", memory: "1Gi" });
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    expect([...h.kube.pods.keys()].sort()).toEqual(["vc-a/a-0", "vc-a/db-x-default-x-a"]);
    const snapshot = Number(
      h.kube.controlPlane("vc-a", "a").meta.annotations[Annotations.hourlyCostSnapshot],
    );
    // control plane (200m, 256Mi) + web + half; not db
    expect(snapshot).toBeCloseTo(price(0.2, 0.25) + 2 * price(1, 1), 6);
    h.kube.clearWrites();
    await h.reconciler.reconcileAll();
    expect(h.kube.writes).toEqual([]);
    expect(h.reconciler.views()[0]?.state).toBe("asleep");
  });
});

describe("issue 6 item 8 (vcluster side): the sleep-time snapshot prices only what the sleep stops", () => {
  it("counts the control plane, its companions and the synced pods it deletes; nothing else in the namespace", async () => {
    const h = deploymentVcluster({ [Annotations.persistent]: "true" });
    h.kube.addNamespace("team-x", {}, { [SYNCED]: "vc-a-x-a" });
    h.kube.addPod("team-x", "api-1", { app: "api" }, { cpu: "1", memory: "1Gi" });
    // Left running by the sleep: a bare pod, a DaemonSet's pod, another vcluster's pods, its etcd.
    h.kube.addPod("vc-a", "debug", {}, { cpu: "8", memory: "16Gi" });
    h.kube.addPod("vc-a", "node-exporter-abc", { app: "node-exporter" }, { cpu: "8", memory: "16Gi" });
    h.kube.addPod("vc-a", "web-x-default-x-b", { [SYNCED]: "b" }, { cpu: "8", memory: "16Gi" });
    h.kube.addPod("vc-a", "b-etcd-0", { app: "vcluster-etcd", release: "b" }, { cpu: "8", memory: "16Gi" });
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    const snapshot = Number(
      h.kube.controlPlane("vc-a", "a").meta.annotations[Annotations.hourlyCostSnapshot],
    );
    const expected =
      price(0.2, 0.25) + // control plane a-0
      3 * price(1, 2) + // etcd
      price(0.5, 1) + // api
      price(1, 1) + // synced web
      price(1, 1); // team-x/api-1 (multi-namespace)
    expect(snapshot).toBeCloseTo(expected, 6);
  });
});
