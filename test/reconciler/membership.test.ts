// Issue 6 items 3 and 9: which objects are targets. A target Slumber put to sleep that leaves the managed set
// is woken before it is let go; an object Slumber does not manage gets no series and no status row.
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { ExitCode } from "../../src/cli/errors.js";
import { wakeOrSleep } from "../../src/cli/wake-sleep.js";
import { SlumberMetrics } from "../../src/metrics/registry.js";
import { Annotations } from "../../src/policy/annotations.js";
import { Reconciler } from "../../src/reconciler/reconciler.js";
import { inspectTarget, listTargetViews, requestWake } from "../../src/reconciler/requests.js";
import { FakeClock, harness, ManualTimers, T0, testConfig } from "../fakes/harness.js";
import { FakeKube } from "../fakes/kube.js";

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");
const DEFAULT_EXCLUDES = [/^kube-system$/, /^kube-public$/, /^slumber$/];

/** A namespace target "team" put to sleep by Slumber at T0 + 1h. */
async function sleepingNamespace() {
  const h = harness();
  h.kube.addNamespace("team", { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0) });
  h.kube.addWorkload("team", "Deployment", "web", { replicas: 3 });
  h.kube.addWorkload("team", "CronJob", "report", { suspend: false });
  h.clock.ms = T0 + HOUR;
  await h.reconciler.reconcileAll();
  expect(h.kube.workload("team", "Deployment", "web").replicas).toBe(0);
  expect(h.kube.namespace("team").meta.annotations[Annotations.sleepingSince]).toBeDefined();
  return h;
}

/** A vcluster "a" in namespace "vc-a" put to sleep by Slumber at T0 + 1h. */
async function sleepingVcluster() {
  const h = harness();
  h.kube.addControlPlane({
    namespace: "vc-a",
    release: "a",
    replicas: 2,
    annotations: { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0) },
  });
  h.clock.ms = T0 + HOUR;
  await h.reconciler.reconcileAll();
  expect(h.kube.controlPlane("vc-a", "a").replicas).toBe(0);
  return h;
}

function expectNamespaceAwake(kube: FakeKube) {
  expect(kube.workload("team", "Deployment", "web").replicas).toBe(3);
  expect(kube.workload("team", "CronJob", "report").suspend).toBe(false);
  expect(kube.namespace("team").meta.annotations[Annotations.sleepingSince]).toBeUndefined();
}

describe("issue 6 item 3: a target that leaves the managed set while asleep is woken first", () => {
  it("wakes a sleeping namespace when an excludeNamespaces pattern starts matching it, then lets it go", async () => {
    const h = await sleepingNamespace();
    const excluded = harness({ excludeNamespaces: [...DEFAULT_EXCLUDES, /^te.*$/] }, h.kube);
    excluded.clock.ms = T0 + 2 * HOUR;
    await excluded.reconciler.reconcileAll();
    expectNamespaceAwake(h.kube);
    expect(excluded.observer.transitions).toEqual([
      { key: "namespace/team/team", to: "awake", reason: "unmanaged" },
    ]);
    expect(excluded.reconciler.views()).toEqual([]);
    // Once awake it is no target: later passes write nothing.
    h.kube.clearWrites();
    await excluded.reconciler.reconcileAll();
    expect(h.kube.writes).toEqual([]);
  });

  it("wakes a sleeping vcluster whose host namespace becomes excluded", async () => {
    const h = await sleepingVcluster();
    const excluded = harness({ excludeNamespaces: [...DEFAULT_EXCLUDES, /^vc-a$/] }, h.kube);
    excluded.clock.ms = T0 + 2 * HOUR;
    await excluded.reconciler.reconcileAll();
    const plane = h.kube.controlPlane("vc-a", "a");
    expect(plane.replicas).toBe(2);
    expect(plane.meta.annotations[Annotations.loftPaused]).toBeUndefined();
    expect(plane.meta.annotations[Annotations.sleepingSince]).toBeUndefined();
    expect(excluded.reconciler.views()).toEqual([]);
  });

  it("leaves a vcluster paused by someone else in an excluded namespace alone", async () => {
    const h = harness({ excludeNamespaces: [...DEFAULT_EXCLUDES, /^vc-a$/] });
    h.kube.addControlPlane({
      namespace: "vc-a",
      release: "a",
      replicas: 0,
      annotations: { [Annotations.loftPaused]: "true", [Annotations.loftPausedReplicas]: "2" },
    });
    await h.reconciler.reconcileAll();
    expect(h.kube.writes).toEqual([]);
  });

  it("wakes a sleeping namespace target when a virtual cluster is created in it, which then becomes the target", async () => {
    const h = await sleepingNamespace();
    h.clock.ms = T0 + 2 * HOUR;
    h.kube.addControlPlane({
      namespace: "team",
      release: "vc",
      replicas: 1,
      annotations: { [Annotations.lastWake]: iso(h.clock.ms) },
    });
    await h.reconciler.reconcileAll();
    expectNamespaceAwake(h.kube);
    expect(h.kube.controlPlane("team", "vc").replicas).toBe(1);
    expect(h.reconciler.views().map((v) => `${v.kind}/${v.namespace}/${v.name}`)).toEqual([
      "vcluster/team/vc",
    ]);
  });

  it("lets `slumber wake` reach a stranded namespace: it waits for the agent's wake and succeeds", async () => {
    const h = await sleepingNamespace();
    const config = testConfig({ excludeNamespaces: [...DEFAULT_EXCLUDES, /^team$/] });
    const agent = harness(config, h.kube);
    const ref = { kind: "namespace" as const, namespace: "team", name: "team" };
    let now = T0 + 2 * HOUR;
    let agentRan = false;
    const code = await wakeOrSleep(
      { want: "awake", target: "team/team", timeoutMs: 60_000, pollMs: 1_000 },
      {
        actions: {
          resolve: async () => ref,
          request: (target, at) => requestWake(h.kube, target, at),
          inspect: (target, at) => inspectTarget(h.kube, config, target, at),
        },
        clock: { now: () => now },
        delay: async (ms) => {
          now += ms;
          if (!agentRan) {
            agentRan = true;
            agent.clock.ms = now;
            await agent.reconciler.reconcileAll();
          }
        },
        progress: () => {},
      },
    );
    expect(code).toBe(ExitCode.ok);
    expect(agentRan).toBe(true);
    expectNamespaceAwake(h.kube);
  });
});

describe("issue 6 item 9: objects Slumber does not manage get no target series and no status row", () => {
  function fleet() {
    const kube = new FakeKube();
    // managed (opted in)
    kube.addControlPlane({
      namespace: "vc-a",
      release: "a",
      annotations: { [Annotations.sleepAfter]: "1h", [Annotations.lastWake]: iso(T0) },
    });
    // not opted in: manage is "annotated" (the default)
    kube.addControlPlane({ namespace: "vc-b", release: "b" });
    kube.addControlPlane({
      namespace: "vc-c",
      release: "c",
      replicas: 0,
      annotations: { [Annotations.loftPaused]: "true", [Annotations.loftPausedReplicas]: "1" },
    });
    // tried to opt in with a malformed value: reported
    kube.addControlPlane({
      namespace: "vc-d",
      release: "d",
      annotations: { [Annotations.sleepAfter]: "soon" },
    });
    return kube;
  }

  it("exports asleep/cost/savings/error series only for managed targets and failed opt-ins", async () => {
    const kube = fleet();
    const clock = new FakeClock(T0);
    const metrics = new SlumberMetrics({ defaultMetrics: false });
    const reconciler = new Reconciler({
      kube,
      config: testConfig(),
      clock,
      observer: metrics,
      logger: pino({ level: "silent" }),
      timers: new ManualTimers(clock),
    });
    await reconciler.reconcileAll();
    clock.ms = T0 + 10_000;
    await reconciler.reconcileAll();
    const text = await metrics.metricsText();
    const series = (name: string) =>
      text
        .split("\n")
        .filter((l) => l.startsWith(`${name}{`))
        .map((l) => /name="([^"]+)"/.exec(l)?.[1])
        .sort();
    expect(series("slumber_target_asleep")).toEqual(["a", "d"]);
    expect(series("slumber_target_hourly_cost")).toEqual(["a", "d"]);
    expect(series("slumber_estimated_savings_total")).toEqual(["a", "d"]);
    expect(series("slumber_asleep_seconds_total")).toEqual(["a", "d"]);
    expect(series("slumber_policy_errors")).toEqual(["a", "d"]);
    expect(text).toContain('slumber_policy_errors{kind="vcluster",namespace="vc-d",name="d"} 1');
  });

  it("removes a target's series when it stops being managed", async () => {
    const kube = fleet();
    const clock = new FakeClock(T0);
    const metrics = new SlumberMetrics({ defaultMetrics: false });
    const reconciler = new Reconciler({
      kube,
      config: testConfig(),
      clock,
      observer: metrics,
      logger: pino({ level: "silent" }),
      timers: new ManualTimers(clock),
    });
    await reconciler.reconcileAll();
    kube.externalPatch(
      { kind: "StatefulSet", namespace: "vc-a", name: "a" },
      { annotations: { [Annotations.sleepAfter]: null, [Annotations.enabled]: "false" } },
    );
    await reconciler.reconcileAll();
    expect(await metrics.metricsText()).not.toContain('name="a"');
  });

  it("`slumber status` lists the same targets as the metrics", async () => {
    const views = await listTargetViews(fleet(), testConfig(), T0);
    expect(views.map((v) => v.name)).toEqual(["a", "d"]);
  });
});
