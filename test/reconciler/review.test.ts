// Adversarial review cases: sequences of passes, external edits and odd starting states that must neither
// lose a replica count, strand a target, nor write more than the transition needs.
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { Annotations } from "../../src/policy/annotations.js";
import { BookkeepingAnnotations, savedSoFar } from "../../src/targets/bookkeeping.js";
import { harness, T0 } from "../fakes/harness.js";

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");
const plane = { kind: "StatefulSet", namespace: "vc-a", name: "a" } as const;

function vcluster(annotations: Record<string, string> = {}, replicas = 3) {
  const h = harness();
  h.kube.addControlPlane({
    namespace: "vc-a",
    release: "a",
    replicas,
    annotations: { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0), ...annotations },
  });
  for (const pod of ["web-x-default-x-a", "db-x-default-x-a"])
    h.kube.addPod("vc-a", pod, { "vcluster.loft.sh/managed-by": "a" }, { cpu: "1", memory: "1Gi" });
  return h;
}

/** A deliberate wake (as `slumber wake` records it) at the harness's current time. */
const wakeNow = (h: ReturnType<typeof harness>) =>
  h.kube.externalPatch(plane, { annotations: { [Annotations.lastWake]: iso(h.clock.ms) } });

describe("review: vcluster targets", () => {
  it("deletes each synced pod once per pass even while the API server keeps it Terminating", async () => {
    const h = vcluster();
    // A real DELETE starts graceful termination: the pod stays listed (deletionTimestamp set) for its grace period.
    h.kube.deletePod = async (namespace, name) => {
      h.kube.writes.push({ operation: "deletePod", ref: { kind: "Pod", namespace, name } });
      const pod = h.kube.pods.get(`${namespace}/${name}`) as V1Pod;
      pod.metadata = { ...pod.metadata, deletionTimestamp: new Date(h.clock.ms) };
    };
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    const deletes = h.kube.writes.filter((w) => w.operation === "deletePod").map((w) => w.ref.name);
    expect(deletes.sort()).toEqual(["db-x-default-x-a", "web-x-default-x-a"]);
    // The next pass over the (still terminating) pods is a settled target: no writes.
    h.kube.clearWrites();
    await h.reconciler.reconcileAll();
    expect(h.kube.writes).toHaveLength(0);
  });

  it.each([
    ["stale", "1"],
    ["malformed", "lots"],
    ["zero", "0"],
  ])(
    "records the live replica count at sleep over a %s loft.sh/paused-replicas left on an awake plane",
    async (_case, value) => {
      const h = vcluster({ [Annotations.loftPausedReplicas]: value }, 3);
      h.clock.ms = T0 + HOUR;
      await h.reconciler.reconcileAll();
      expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(0);
      expect(h.kube.controlPlane("vc-a", "a").meta.annotations[Annotations.loftPausedReplicas]).toBe("3");
      h.clock.ms = T0 + 2 * HOUR;
      wakeNow(h);
      await h.reconciler.reconcileAll();
      expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(3);
    },
  );

  it("leaves a control plane that was at 0 replicas before Slumber touched it at 0: no pause, no wake to 1", async () => {
    const h = vcluster({}, 0);
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    h.clock.ms = T0 + 2 * HOUR;
    wakeNow(h);
    await h.reconciler.reconcileAll();
    expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(0);
    expect(h.kube.writes).toHaveLength(0);
    expect(h.observer.transitions).toEqual([]);
    expect(h.kube.events.map((e) => e.reason)).toEqual(["StoppedExternally"]);
  });

  it("clears its own sleep record when a vcluster was resumed outside Slumber and opted out meanwhile", async () => {
    const h = vcluster();
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    expect(h.kube.controlPlane("vc-a", "a").meta.annotations[Annotations.sleepingSince]).toBe(iso(T0 + HOUR));
    // While the agent is down: `vcluster resume`, and the owner opts the cluster out.
    h.clock.ms = T0 + 2 * HOUR;
    h.kube.externalPatch(plane, {
      replicas: 3,
      annotations: {
        [Annotations.loftPaused]: null,
        [Annotations.loftPausedReplicas]: null,
        [Annotations.loftPausedDate]: null,
        [Annotations.enabled]: "false",
        [Annotations.sleepAfter]: null,
      },
    });
    const restarted = harness({}, h.kube);
    restarted.clock.ms = h.clock.ms;
    await restarted.reconciler.reconcileAll();
    const annotations = h.kube.controlPlane("vc-a", "a").meta.annotations;
    expect(annotations[Annotations.sleepingSince]).toBeUndefined();
    expect(annotations[BookkeepingAnnotations.asleepSecondsTotal]).toBe("3600");
    // Savings stop growing once it is awake and unmanaged; and unmanaged, it is no target (no view, no series).
    const before = savedSoFar(annotations, T0 + 2 * HOUR);
    expect(before).toBeGreaterThan(0);
    restarted.clock.ms = T0 + 100 * HOUR;
    await restarted.reconciler.reconcileAll();
    expect(savedSoFar(h.kube.controlPlane("vc-a", "a").meta.annotations, T0 + 100 * HOUR)).toBe(before);
    expect(restarted.reconciler.views()).toEqual([]);
    expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(3);
  });
});
