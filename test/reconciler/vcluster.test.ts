import { describe, expect, it } from "vitest";
import { Annotations } from "../../src/policy/annotations.js";
import { BookkeepingAnnotations } from "../../src/targets/bookkeeping.js";
import { harness, T0 } from "../fakes/harness.js";

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");

function vclusterSetup(
  annotations: Record<string, string> = {},
  extra: { replicas?: number; kind?: "StatefulSet" | "Deployment"; volumeClaims?: boolean } = {},
) {
  const h = harness();
  h.kube.addControlPlane({
    namespace: "vc-a",
    release: "a",
    replicas: extra.replicas ?? 2,
    kind: extra.kind,
    volumeClaims: extra.volumeClaims,
    annotations: { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0), ...annotations },
  });
  h.kube.addPod(
    "vc-a",
    "web-x-default-x-a",
    { "vcluster.loft.sh/managed-by": "a" },
    { cpu: "1", memory: "1Gi" },
  );
  return h;
}

describe("vcluster targets", () => {
  it("sleeps after inactivity: record first, then replicas 0, then synced pods deleted", async () => {
    const h = vclusterSetup();
    await h.reconciler.reconcileAll();
    expect(h.kube.writes).toHaveLength(0);
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    const plane = h.kube.controlPlane("vc-a", "a");
    expect(plane.replicas).toBe(0);
    expect(plane.meta.annotations[Annotations.loftPaused]).toBe("true");
    expect(plane.meta.annotations[Annotations.loftPausedReplicas]).toBe("2");
    expect(plane.meta.annotations[Annotations.sleepReason]).toBe("inactivity");
    expect(Number(plane.meta.annotations[Annotations.hourlyCostSnapshot])).toBeGreaterThan(0);
    const [record, scale, del] = h.kube.writes;
    expect(record?.patch?.replicas).toBeUndefined();
    expect(record?.patch?.annotations?.[Annotations.loftPaused]).toBe("true");
    expect(scale?.patch?.replicas).toBe(0);
    expect(del?.operation).toBe("deletePod");
    expect([...h.kube.pods.keys()]).not.toContain("vc-a/web-x-default-x-a");
    expect(h.kube.events.map((e) => e.reason)).toContain("Sleeping");
    expect(h.observer.transitions).toEqual([{ key: "vcluster/vc-a/a", to: "asleep", reason: "inactivity" }]);
    expect(h.reconciler.views()[0]?.state).toBe("asleep");
  });

  it("deletes all synced pods in one step: a sleep re-reads the target per step, not per pod", async () => {
    const h = vclusterSetup();
    for (let i = 0; i < 20; i++)
      h.kube.addPod(
        "vc-a",
        `p${i}-x-default-x-a`,
        { "vcluster.loft.sh/managed-by": "a" },
        { cpu: "1", memory: "1Gi" },
      );
    const listPods = h.kube.listPods.bind(h.kube);
    let podLists = 0;
    h.kube.listPods = (namespace, selector) => {
      podLists++;
      return listPods(namespace, selector);
    };
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    expect(h.kube.writes.filter((w) => w.operation === "deletePod")).toHaveLength(21);
    // record, scale, delete, then the settled read that publishes the view
    expect(podLists).toBe(4);
  });

  it("an hourly-cost from the config file's defaults is the cost shown and snapshotted at sleep", async () => {
    const h = harness({
      policy: {
        defaultTimezone: "UTC",
        defaultSleepAfterMs: HOUR,
        manageAll: false,
        defaults: { "hourly-cost": "2.5" },
      },
    });
    h.kube.addControlPlane({
      namespace: "vc-a",
      release: "a",
      replicas: 1,
      annotations: { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0) },
    });
    await h.reconciler.reconcileAll();
    expect(h.reconciler.views()[0]?.hourlyCost).toBe(2.5);
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    expect(h.kube.controlPlane("vc-a", "a").meta.annotations[Annotations.hourlyCostSnapshot]).toBe(
      "2.500000",
    );
    expect(h.reconciler.views()[0]).toMatchObject({ state: "asleep", hourlyCost: 2.5 });
  });

  it("sleeping something asleep and waking something awake write nothing", async () => {
    const h = vclusterSetup();
    await h.reconciler.reconcileAll();
    await h.reconciler.reconcileAll();
    expect(h.kube.writes).toHaveLength(0);
    h.clock.ms = T0 + 2 * HOUR;
    await h.reconciler.reconcileAll();
    const count = h.kube.writes.length;
    await h.reconciler.reconcileAll();
    expect(h.kube.writes).toHaveLength(count);
  });

  it("wakes on a deliberate wake: replicas restored, pause cleared, savings accumulated", async () => {
    const h = vclusterSetup();
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    const cost = Number(h.kube.controlPlane("vc-a", "a").meta.annotations[Annotations.hourlyCostSnapshot]);
    h.clock.ms = T0 + 3 * HOUR;
    h.kube.externalPatch(
      { kind: "StatefulSet", namespace: "vc-a", name: "a" },
      { annotations: { [Annotations.lastWake]: iso(h.clock.ms) } },
    );
    await h.reconciler.reconcileAll();
    const plane = h.kube.controlPlane("vc-a", "a");
    expect(plane.replicas).toBe(2);
    expect(plane.meta.annotations[Annotations.loftPaused]).toBeUndefined();
    expect(plane.meta.annotations[Annotations.loftPausedReplicas]).toBeUndefined();
    expect(plane.meta.annotations[Annotations.sleepingSince]).toBeUndefined();
    expect(plane.meta.annotations[Annotations.hourlyCostSnapshot]).toBeUndefined();
    expect(plane.meta.annotations[BookkeepingAnnotations.asleepSecondsTotal]).toBe("7200");
    expect(Number(plane.meta.annotations[BookkeepingAnnotations.savedTotal])).toBeCloseTo(cost * 2, 5);
    expect(h.observer.wakes).toEqual([{ kind: "vcluster", seconds: 0 }]);
    // The label is the bounded wake reason, never the decision's text (which names times).
    expect(h.observer.transitions.at(-1)).toEqual({ key: "vcluster/vc-a/a", to: "awake", reason: "manual" });
    expect(h.kube.events.map((e) => e.reason)).toContain("Woken");
  });

  it("undoes a GitOps revert of the replicas while paused", async () => {
    const h = vclusterSetup();
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    h.kube.clearWrites();
    h.kube.externalPatch({ kind: "StatefulSet", namespace: "vc-a", name: "a" }, { replicas: 2 });
    await h.reconciler.reconcileAll();
    const plane = h.kube.controlPlane("vc-a", "a");
    expect(plane.replicas).toBe(0);
    expect(plane.meta.annotations[Annotations.loftPausedReplicas]).toBe("2");
    expect(h.kube.writes.map((w) => w.patch?.replicas)).toEqual([0]);
  });

  it("respects `vcluster resume` as use: records last-wake now and stays awake", async () => {
    const h = vclusterSetup();
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    h.clock.ms = T0 + 2 * HOUR;
    h.kube.externalPatch(
      { kind: "StatefulSet", namespace: "vc-a", name: "a" },
      {
        replicas: 2,
        annotations: {
          [Annotations.loftPaused]: null,
          [Annotations.loftPausedReplicas]: null,
          [Annotations.loftPausedDate]: null,
        },
      },
    );
    await h.reconciler.reconcileAll();
    const plane = h.kube.controlPlane("vc-a", "a");
    expect(plane.replicas).toBe(2);
    expect(plane.meta.annotations[Annotations.lastWake]).toBe(iso(T0 + 2 * HOUR));
    expect(plane.meta.annotations[Annotations.sleepingSince]).toBeUndefined();
    expect(h.kube.events.map((e) => e.reason)).toContain("ResumedExternally");
    expect(h.reconciler.views()[0]?.state).toBe("awake");
  });

  it.each([
    ["a Deployment", { kind: "Deployment" as const }],
    ["a StatefulSet without volumeClaimTemplates", { volumeClaims: false }],
  ])("never scales down a non-persistent control plane (%s)", async (_name, extra) => {
    const h = vclusterSetup({}, extra);
    h.clock.ms = T0 + 2 * HOUR;
    await h.reconciler.reconcileAll();
    expect(h.kube.writes).toHaveLength(0);
    expect(h.kube.events.map((e) => e.reason)).toEqual(["NotPersistent"]);
    const view = h.reconciler.views()[0];
    expect(view?.state).toBe("awake");
    expect(view?.policyErrors[0]?.key).toBe(Annotations.persistent);
  });

  it("scales down a non-persistent control plane with an external database or the persistent vouch", async () => {
    const h = vclusterSetup({}, { kind: "Deployment" });
    h.kube.setVclusterConfig(
      "vc-a",
      "a",
      "controlPlane:\n  backingStore:\n    database:\n      external:\n        enabled: true\n",
    );
    h.clock.ms = T0 + 2 * HOUR;
    await h.reconciler.reconcileAll();
    expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(0);
    const vouched = vclusterSetup({ [Annotations.persistent]: "true" }, { kind: "Deployment" });
    vouched.clock.ms = T0 + 2 * HOUR;
    await vouched.reconciler.reconcileAll();
    expect(vouched.kube.controlPlane("vc-a", "a").replicas).toBe(0);
  });

  it("leaves a target with a malformed annotation untouched and says so", async () => {
    const h = vclusterSetup({ [Annotations.sleepAfter]: "soon" });
    h.clock.ms = T0 + 5 * HOUR;
    await h.reconciler.reconcileAll();
    await h.reconciler.reconcileAll();
    expect(h.kube.writes).toHaveLength(0);
    expect(h.kube.events).toHaveLength(1);
    expect(h.kube.events[0]?.reason).toBe("PolicyError");
    expect(h.kube.events[0]?.note).toContain("slumber.dev/sleep-after");
    expect(h.kube.events[0]?.note).toContain("soon");
    expect(h.reconciler.views()[0]?.policyErrors.length).toBeGreaterThan(0);
  });

  it("dry-run decides and reports but writes nothing", async () => {
    const h = harness({ dryRun: true });
    h.kube.addControlPlane({
      namespace: "vc-a",
      release: "a",
      annotations: { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0) },
    });
    h.clock.ms = T0 + 2 * HOUR;
    await h.reconciler.reconcileAll();
    expect(h.kube.writes).toHaveLength(0);
    expect(h.kube.events).toHaveLength(0);
    expect(h.reconciler.views()[0]).toMatchObject({ state: "awake", desired: "asleep" });
  });

  it("gives a newly managed target last-wake = now", async () => {
    const h = harness();
    h.kube.addControlPlane({
      namespace: "vc-a",
      release: "a",
      annotations: { [Annotations.sleepAfter]: "1h" },
    });
    await h.reconciler.reconcileAll();
    expect(h.kube.controlPlane("vc-a", "a").meta.annotations[Annotations.lastWake]).toBe(iso(T0));
    expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(1);
  });

  it.each([409, 500, "timeout"] as const)(
    "recovers from an injected %s on a write at the next pass",
    async (failure) => {
      const h = vclusterSetup();
      h.clock.ms = T0 + HOUR;
      h.kube.failNext("patch", failure);
      if (failure === 409) {
        for (let i = 0; i < 4; i++) h.kube.failNext("patch", 409);
      }
      await h.reconciler.reconcileAll();
      expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(2);
      expect(h.observer.apiErrors[0]?.code).toBe(failure === "timeout" ? undefined : failure);
      await h.reconciler.reconcileAll();
      expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(0);
      expect(h.kube.controlPlane("vc-a", "a").meta.annotations[Annotations.loftPausedReplicas]).toBe("2");
    },
  );

  it("retries a single 409 within the same pass after re-reading", async () => {
    const h = vclusterSetup();
    h.clock.ms = T0 + HOUR;
    h.kube.failNext("patch", 409);
    await h.reconciler.reconcileAll();
    expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(0);
    expect(h.observer.apiErrors).toHaveLength(0);
  });

  it("one failing target does not stop the others", async () => {
    const h = vclusterSetup();
    h.kube.addControlPlane({
      namespace: "vc-b",
      release: "b",
      annotations: { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0) },
    });
    h.clock.ms = T0 + HOUR;
    h.kube.failNext("readVclusterConfig", 500, (ref) => ref.namespace === "vc-a");
    await h.reconciler.reconcileAll();
    expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(2);
    expect(h.kube.controlPlane("vc-b", "b").replicas).toBe(0);
  });

  it("puts a vcluster to sleep at the end of its awake-hours window, via its timer", async () => {
    const h = harness();
    h.kube.addControlPlane({
      namespace: "vc-a",
      release: "a",
      annotations: { [Annotations.awakeHours]: "Mon-Fri 08:00-19:00 UTC", [Annotations.lastWake]: iso(T0) },
    });
    await h.reconciler.start();
    expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(1);
    const windowEnd = Date.parse("2025-03-03T19:00:00Z");
    expect(h.timers.dueTimes()).toContain(windowEnd);
    h.timers.advance(windowEnd - h.clock.ms - 1);
    await h.reconciler.idle();
    expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(1);
    h.timers.advance(1);
    await h.reconciler.idle();
    const plane = h.kube.controlPlane("vc-a", "a");
    expect(plane.replicas).toBe(0);
    expect(plane.meta.annotations[Annotations.sleepReason]).toBe("schedule");
    expect(plane.meta.annotations[Annotations.sleepingSince]).toBe(iso(windowEnd));
    await h.reconciler.stop();
  });

  it("never loses the replica count: a crash before every write of the sleep is finished by the next pass", async () => {
    const probe = vclusterSetup({}, { replicas: 3 });
    probe.kube.addPod(
      "vc-a",
      "db-x-default-x-a",
      { "vcluster.loft.sh/managed-by": "a" },
      { cpu: "1", memory: "1Gi" },
    );
    probe.clock.ms = T0 + HOUR;
    await probe.reconciler.reconcileAll();
    const totalWrites = probe.kube.writes.length;
    expect(totalWrites).toBe(4);
    for (let n = 1; n <= totalWrites; n++) {
      const h = vclusterSetup({}, { replicas: 3 });
      h.kube.addPod(
        "vc-a",
        "db-x-default-x-a",
        { "vcluster.loft.sh/managed-by": "a" },
        { cpu: "1", memory: "1Gi" },
      );
      h.clock.ms = T0 + HOUR;
      h.kube.crashAfterWrites(n);
      await expect(h.reconciler.reconcileAll()).resolves.toBeUndefined();
      expect(h.kube.writes).toHaveLength(n - 1);
      // a restarted agent: a new reconciler over the state the crashed one left
      h.kube.revive(); // the agent restarted
      const restarted = harness({}, h.kube);
      restarted.clock.ms = h.clock.ms;
      await restarted.reconciler.reconcileAll();
      const asleep = h.kube.controlPlane("vc-a", "a");
      expect(asleep.replicas, `crash at write ${n}`).toBe(0);
      expect(asleep.meta.annotations[Annotations.loftPausedReplicas], `crash at write ${n}`).toBe("3");
      expect(h.kube.pods.size, `crash at write ${n}`).toBe(1); // only the control-plane pod remains
      h.clock.ms = T0 + 2 * HOUR;
      h.kube.externalPatch(
        { kind: "StatefulSet", namespace: "vc-a", name: "a" },
        { annotations: { [Annotations.lastWake]: iso(h.clock.ms) } },
      );
      restarted.clock.ms = h.clock.ms;
      await restarted.reconciler.reconcileAll();
      expect(h.kube.controlPlane("vc-a", "a").replicas, `crash at write ${n}`).toBe(3);
    }
  });
});
