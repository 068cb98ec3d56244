import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { FollowerWakePort, leaderAwareWakePort } from "../../src/leader/handoff.js";
import { Annotations } from "../../src/policy/annotations.js";
import type { WakePort } from "../../src/proxy/port.js";
import { FakeClock, harness, T0 } from "../fakes/harness.js";
import { FakeKube } from "../fakes/kube.js";

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
const settle = () => new Promise((resolve) => setTimeout(resolve, 10));
const ref = { namespace: "vc-a", name: "a" };

function follower(lastActivity?: number) {
  const kube = new FakeKube();
  kube.addControlPlane({
    namespace: "vc-a",
    release: "a",
    replicas: 0,
    annotations: lastActivity === undefined ? {} : { [Annotations.lastActivity]: iso(lastActivity) },
  });
  const clock = new FakeClock(T0);
  return { kube, clock, port: new FollowerWakePort(kube, clock, pino({ level: "silent" })) };
}

describe("a follower's wake proxy hands wakes and activity to the leader through the API", () => {
  it("a held request records last-activity on the control plane, never replicas", async () => {
    const { kube, port } = follower(T0 - 3_600_000);
    port.requestWake(ref, T0, "request");
    await settle();
    const plane = kube.controlPlane("vc-a", "a");
    expect(plane.meta.annotations[Annotations.lastActivity]).toBe(iso(T0));
    expect(plane.meta.annotations[Annotations.lastActivitySource]).toBe("request");
    expect(plane.replicas).toBe(0);
    expect(kube.writes.every((w) => w.patch?.replicas === undefined)).toBe(true);
  });

  it("many requests for one cluster make one write; activity is written at most once a minute", async () => {
    const { kube, clock, port } = follower();
    for (let i = 0; i < 20; i++) port.requestWake(ref, T0, "request");
    await settle();
    expect(kube.writes).toHaveLength(1);
    clock.ms += 30_000;
    port.recordActivity(ref, clock.ms, "request");
    await settle();
    expect(kube.writes).toHaveLength(1);
    clock.ms += 31_000;
    port.recordActivity(ref, clock.ms, "session");
    await settle();
    expect(kube.writes).toHaveLength(2);
    expect(kube.controlPlane("vc-a", "a").meta.annotations[Annotations.lastActivitySource]).toBe("session");
  });

  it("never moves last-activity back", async () => {
    const { kube, port } = follower(T0 + 60_000);
    port.recordActivity(ref, T0, "request");
    await settle();
    expect(kube.writes).toHaveLength(0);
    expect(kube.controlPlane("vc-a", "a").meta.annotations[Annotations.lastActivity]).toBe(iso(T0 + 60_000));
  });

  it("routes to the leader's own reconciler while leading, to the hand-off otherwise", () => {
    const calls: string[] = [];
    const named = (name: string): WakePort => ({
      requestWake: () => calls.push(`${name} wake`),
      recordActivity: () => calls.push(`${name} activity`),
    });
    let leading = true;
    const port = leaderAwareWakePort(() => leading, named("leader"), named("follower"));
    port.requestWake(ref, T0, "request");
    leading = false;
    port.requestWake(ref, T0, "request");
    port.recordActivity(ref, T0, "request");
    expect(calls).toEqual(["leader wake", "follower wake", "follower activity"]);
  });
});

describe("a follower's route table comes from a decide-only reconciler", () => {
  it("publishes the managed clusters' routes and readiness without writing anything", async () => {
    const h = harness({ dryRun: true });
    h.kube.addControlPlane({
      namespace: "vc-a",
      release: "a",
      replicas: 1,
      annotations: { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0 - 2 * 3_600_000) },
    });
    h.kube.addControlPlane({ namespace: "vc-b", release: "b", replicas: 1 }); // not managed: no route
    await h.reconciler.start();
    await h.reconciler.routes.complete;
    expect(h.reconciler.routes.get("vc-a", "a")).toMatchObject({ namespace: "vc-a", name: "a" });
    expect(h.reconciler.routes.get("vc-b", "b")).toBeUndefined();
    // Idle for 2 h with sleep-after 1h: the leader would sleep it; this reconciler only decides.
    expect(h.kube.writes).toEqual([]);
    expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(1);
    await h.reconciler.stop();
  });
});
