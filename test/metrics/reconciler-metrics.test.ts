// The metrics registry as the real reconciler's observer, over the in-memory cluster.
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { SlumberMetrics } from "../../src/metrics/registry.js";
import { Annotations } from "../../src/policy/annotations.js";
import { Reconciler } from "../../src/reconciler/reconciler.js";
import { FakeClock, ManualTimers, T0, testConfig } from "../fakes/harness.js";
import { FakeKube } from "../fakes/kube.js";

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");

function sample(text: string, line: string): number | undefined {
  const found = text.split("\n").find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

describe("SlumberMetrics observing the reconciler", () => {
  it("reports state, cost, time asleep and savings of a vcluster that sleeps after inactivity", async () => {
    const kube = new FakeKube();
    kube.addControlPlane({
      namespace: "vc-a",
      release: "a",
      replicas: 1,
      annotations: { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0) },
    });
    kube.addPod(
      "vc-a",
      "web-x-default-x-a",
      { "vcluster.loft.sh/managed-by": "a" },
      { cpu: "2", memory: "4Gi" },
    );
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
    const target = 'kind="vcluster",namespace="vc-a",name="a"';

    await reconciler.reconcileAll();
    let text = await metrics.metricsText();
    expect(sample(text, `slumber_target_asleep{${target}}`)).toBe(0);
    const awakeCost = sample(text, `slumber_target_hourly_cost{${target},currency="USD"}`)!;
    expect(awakeCost).toBeGreaterThanOrEqual(2 * 0.031611 + 4 * 0.004237);

    clock.ms = T0 + HOUR;
    await reconciler.reconcileAll();
    clock.ms = T0 + 3 * HOUR;
    await reconciler.reconcileAll();

    text = await metrics.metricsText();
    const snapshot = Number(kube.controlPlane("vc-a", "a").meta.annotations[Annotations.hourlyCostSnapshot]);
    expect(snapshot).toBeCloseTo(awakeCost, 5);
    expect(sample(text, `slumber_target_asleep{${target}}`)).toBe(1);
    expect(sample(text, `slumber_target_hourly_cost{${target},currency="USD"}`)).toBeCloseTo(snapshot, 9);
    expect(sample(text, `slumber_asleep_seconds_total{${target}}`)).toBe(2 * 3600);
    expect(sample(text, `slumber_estimated_savings_total{${target},currency="USD"}`)).toBeCloseTo(
      2 * snapshot,
      9,
    );
    expect(sample(text, `slumber_transitions_total{${target},to="asleep",reason="inactivity"}`)).toBe(1);
    expect(sample(text, "slumber_reconcile_duration_seconds_count")).toBe(3);
  });
});
