// The reconciler as the wake proxy's port: activity and wakes go through its own steps, and its passes
// publish the route table the proxy reads from memory.
import { describe, expect, it } from "vitest";
import { Annotations } from "../../src/policy/annotations.js";
import { harness, T0 } from "../fakes/harness.js";

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");
const ref = { namespace: "vc-a", name: "a" };

function setup(annotations: Record<string, string> = {}) {
  const h = harness();
  h.kube.addControlPlane({
    namespace: "vc-a",
    release: "a",
    annotations: { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0), ...annotations },
  });
  return h;
}

describe("reconciler as the proxy's port", () => {
  it("publishes managed virtual clusters as routes with their upstream, and only those", async () => {
    const h = setup({ [Annotations.ignoreUserAgents]: "argocd*" });
    h.kube.addControlPlane({ namespace: "vc-b", release: "b" });
    h.kube.addControlPlane({
      namespace: "vc-c",
      release: "c",
      annotations: { [Annotations.enabled]: "true", [Annotations.upstream]: "https://127.0.0.1:6443" },
    });
    await h.reconciler.reconcileAll();
    expect(h.reconciler.routes.get("vc-a", "a")).toEqual({
      namespace: "vc-a",
      name: "a",
      upstream: "https://a.vc-a.svc:443",
      asleep: false,
      ready: true,
      ignoreUserAgents: ["argocd*"],
    });
    expect(h.reconciler.routes.get("vc-b", "b")).toBeUndefined();
    expect(h.reconciler.routes.get("vc-c", "c")?.upstream).toBe("https://127.0.0.1:6443");
  });

  it("never takes the upstream from a Namespace, and names a malformed one", async () => {
    const h = setup({ [Annotations.upstream]: "http://evil:80/path" });
    h.kube.namespaces.get("vc-a")!.meta.annotations = { [Annotations.upstream]: "https://ns-level:443" };
    await h.reconciler.reconcileAll();
    const route = h.reconciler.routes.get("vc-a", "a");
    expect(route?.upstream).toBeNull();
    expect(route?.upstreamError).toContain(
      'slumber.dev/upstream="http://evil:80/path" on StatefulSet vc-a/a',
    );
  });

  it("wakes a sleeping cluster for a request through its own steps, recording the activity and its source", async () => {
    const h = setup();
    h.clock.ms = T0 + 2 * HOUR;
    await h.reconciler.start();
    expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(0);
    expect(h.reconciler.routes.get("vc-a", "a")).toMatchObject({ asleep: true, ready: false });
    h.clock.ms += 5_000;
    h.reconciler.requestWake(ref, h.clock.ms, "request");
    await h.reconciler.idle();
    const plane = h.kube.controlPlane("vc-a", "a");
    expect(plane.replicas).toBe(1);
    expect(plane.meta.annotations[Annotations.lastActivity]).toBe(iso(h.clock.ms));
    expect(plane.meta.annotations[Annotations.lastActivitySource]).toBe("request");
    expect(h.observer.transitions.at(-1)).toEqual({
      key: "vcluster/vc-a/a",
      to: "awake",
      reason: "activity",
    });
    expect(h.reconciler.routes.get("vc-a", "a")).toMatchObject({ asleep: false });
    // `slumber status` shows where the last activity came from.
    const view = h.reconciler.views()[0];
    expect(view?.lastActivitySource).toBe("request");
    expect(view?.reason).toContain("last activity (a request through the wake proxy) at");
  });

  it("writes last-activity at most once a minute while awake, and only forward", async () => {
    const h = setup();
    await h.reconciler.start();
    h.kube.clearWrites();
    h.clock.ms = T0 + 30_000;
    h.reconciler.recordActivity(ref, h.clock.ms, "request");
    await h.reconciler.idle();
    expect(h.kube.writes).toHaveLength(0);
    h.clock.ms = T0 + 90_000;
    h.reconciler.recordActivity(ref, h.clock.ms, "session");
    await h.reconciler.idle();
    expect(h.kube.writes).toHaveLength(1);
    expect(h.kube.controlPlane("vc-a", "a").meta.annotations[Annotations.lastActivitySource]).toBe("session");
    h.reconciler.recordActivity(ref, T0 + 10_000, "request");
    await h.reconciler.idle();
    expect(h.kube.controlPlane("vc-a", "a").meta.annotations[Annotations.lastActivity]).toBe(
      iso(T0 + 90_000),
    );
    expect(h.kube.writes).toHaveLength(1);
  });

  it("a request after a manual sleep wakes the cluster even within the minute", async () => {
    const h = setup();
    h.clock.ms = T0 + 10_000;
    h.kube.externalPatch(
      { kind: "StatefulSet", namespace: "vc-a", name: "a" },
      { annotations: { [Annotations.manualSleep]: iso(T0 + 10_000) } },
    );
    await h.reconciler.start();
    expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(0);
    h.clock.ms = T0 + 20_000;
    h.reconciler.requestWake(ref, h.clock.ms, "request");
    await h.reconciler.idle();
    expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(1);
  });

  it("does not wake a cluster forced asleep, and does not write for ever trying", async () => {
    const h = setup({ [Annotations.force]: "asleep" });
    await h.reconciler.start();
    h.kube.clearWrites();
    h.clock.ms += 120_000;
    h.reconciler.requestWake(ref, h.clock.ms, "request");
    await h.reconciler.idle();
    expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(0);
    expect(h.kube.writes.length).toBeLessThanOrEqual(1);
  });
});
