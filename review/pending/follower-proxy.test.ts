// Review: with --leader-elect, program.ts hands the proxy `core.routes` and `core` as its WakePort on
// every replica, but a follower never starts its Reconciler. README ("Wake hand-off") and docs/SPEC.md
// say a follower's proxy routes and hands the wake to the leader through the API (last-wake).
import { describe, expect, it } from "vitest";
import { Annotations } from "../../src/policy/annotations.js";
import { harness, T0 } from "../../test/fakes/harness.js";

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");

describe("wake proxy on a follower replica (reconciler never started)", () => {
  it("knows the managed clusters' routes, so a follower does not hold kubectl 120 s and then 404", async () => {
    const h = harness();
    h.kube.addControlPlane({
      namespace: "vc-a",
      release: "a",
      annotations: { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0) },
    });
    // The follower: runAgent never calls reconciler.start() while another replica leads.
    await new Promise((r) => setTimeout(r, 50));
    expect(h.reconciler.routes.isComplete()).toBe(true);
    expect(h.reconciler.routes.get("vc-a", "a")).toBeDefined();
  });

  it("hands a held request's wake to the leader through the API (as README documents)", async () => {
    const h = harness();
    h.kube.addControlPlane({
      namespace: "vc-a",
      release: "a",
      annotations: { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0) },
    });
    h.clock.ms = T0 + 2 * HOUR;
    h.reconciler.requestWake({ namespace: "vc-a", name: "a" }, h.clock.ms, "request");
    await new Promise((r) => setTimeout(r, 50));
    const annotations = h.kube.controlPlane("vc-a", "a").meta.annotations;
    // Either hand-off form would let the leader wake it; today neither is written: the wake is lost.
    const handedOff =
      annotations[Annotations.lastWake] !== undefined || annotations[Annotations.lastActivity] !== iso(T0);
    expect(handedOff).toBe(true);
  });
});
