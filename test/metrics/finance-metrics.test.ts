// The series issue 7 adds: slumber_target_info with --cost-labels, the policy's wish, a wake in flight,
// the prices in effect; and the sanitizing of label keys into Prometheus label names.
import { describe, expect, it } from "vitest";
import { parseCostLabels, promLabelName } from "../../src/metrics/cost-labels.js";
import { SlumberMetrics } from "../../src/metrics/registry.js";
import type { TargetView } from "../../src/targets/types.js";

const T0 = Date.parse("2026-03-06T19:00:00Z");
const ref = { kind: "vcluster", namespace: "vc-a", name: "a" } as const;

function view(overrides: Partial<TargetView> = {}): TargetView {
  return {
    ...ref,
    state: "awake",
    desired: "awake",
    reason: "test",
    since: T0,
    next: null,
    hourlyCost: 0.5,
    currency: "USD",
    savedSoFar: 0,
    policyErrors: [],
    costLabels: { team: "payments", "cost-center": "cc-42" },
    ...overrides,
  };
}

/** The exposition lines of one metric, without comments. */
async function lines(metrics: SlumberMetrics, name: string): Promise<string[]> {
  return (await metrics.metricsText())
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

describe("promLabelName / parseCostLabels", () => {
  it.each([
    ["team", "team"],
    ["cost-center", "cost_center"],
    ["example.com/team", "example_com_team"],
    ["2fa", "_2fa"],
  ])("%s becomes %s", (key, name) => {
    expect(promLabelName(key)).toBe(name);
  });

  it("parses a comma list, trimming and dropping repeats", () => {
    expect(parseCostLabels("--cost-labels", " team, cost-center ,team")).toEqual([
      { key: "team", name: "team" },
      { key: "cost-center", name: "cost_center" },
    ]);
    expect(parseCostLabels("--cost-labels", "")).toEqual([]);
  });

  it.each([
    ["team name", /"team name" is not a Kubernetes label key/],
    ["name", /"name" would become the Prometheus label "name", which is reserved/],
    ["kind", /"kind" would become the Prometheus label "kind", which is reserved/],
    [
      "cost-center,cost.center",
      /"cost-center" and "cost.center" both become the Prometheus label "cost_center"/,
    ],
  ])("rejects %s naming the flag", (value, message) => {
    expect(() => parseCostLabels("--cost-labels", value)).toThrow(message);
    expect(() => parseCostLabels("--cost-labels", value)).toThrow(/^--cost-labels: /);
  });
});

describe("slumber_target_info", () => {
  const costLabels = parseCostLabels("--cost-labels", "team,cost-center");

  it("one series per managed target with its sanitized cost labels, value 1", async () => {
    const metrics = new SlumberMetrics({ defaultMetrics: false, costLabels });
    metrics.targetObserved(view(), T0);
    expect(await lines(metrics, "slumber_target_info")).toEqual([
      'slumber_target_info{kind="vcluster",namespace="vc-a",name="a",team="payments",cost_center="cc-42"} 1',
    ]);
  });

  it("a changed label replaces the series; an unmanaged target and a removed one have none", async () => {
    const metrics = new SlumberMetrics({ defaultMetrics: false, costLabels });
    metrics.targetObserved(view(), T0);
    metrics.targetObserved(view({ costLabels: { team: "search" } }), T0 + 1000);
    expect(await lines(metrics, "slumber_target_info")).toEqual([
      'slumber_target_info{kind="vcluster",namespace="vc-a",name="a",team="search",cost_center=""} 1',
    ]);
    metrics.targetObserved(view({ state: "unmanaged", desired: "unmanaged" }), T0 + 2000);
    expect(await lines(metrics, "slumber_target_info")).toEqual([]);
    metrics.targetObserved(view(), T0 + 3000);
    metrics.targetRemoved(ref);
    expect(await lines(metrics, "slumber_target_info")).toEqual([]);
  });

  it("without --cost-labels the series still names every managed target", async () => {
    const metrics = new SlumberMetrics({ defaultMetrics: false });
    metrics.targetObserved(view(), T0);
    expect(await lines(metrics, "slumber_target_info")).toEqual([
      'slumber_target_info{kind="vcluster",namespace="vc-a",name="a"} 1',
    ]);
  });
});

describe("slumber_target_desired_asleep and slumber_target_waking", () => {
  it("follow the policy's wish and a wake from start to ready", async () => {
    const metrics = new SlumberMetrics({ defaultMetrics: false });
    metrics.targetObserved(view({ state: "asleep", desired: "awake" }), T0);
    expect(await lines(metrics, "slumber_target_desired_asleep")).toEqual([
      'slumber_target_desired_asleep{kind="vcluster",namespace="vc-a",name="a"} 0',
    ]);
    metrics.wakeStarted(ref);
    expect(await lines(metrics, "slumber_target_waking")).toEqual([
      'slumber_target_waking{kind="vcluster",namespace="vc-a",name="a"} 1',
    ]);
    metrics.wakeCompleted("vcluster", 12, ref);
    expect(await lines(metrics, "slumber_target_waking")).toEqual([
      'slumber_target_waking{kind="vcluster",namespace="vc-a",name="a"} 0',
    ]);
    metrics.wakeStarted(ref);
    metrics.transition(ref, "asleep", "forced");
    expect(await lines(metrics, "slumber_target_waking")).toEqual([]);
    metrics.targetObserved(view({ desired: "unmanaged", state: "unmanaged" }), T0 + 1000);
    expect(await lines(metrics, "slumber_target_desired_asleep")).toEqual([]);
  });
});

describe("slumber_price_per_hour", () => {
  it("shows the prices in effect and their source; a new source replaces the old series", async () => {
    const metrics = new SlumberMetrics({ defaultMetrics: false });
    metrics.pricesInEffect({ cpuCoreHour: 0.031611, memoryGiBHour: 0.004237, currency: "USD" }, "flags");
    metrics.pricesInEffect({ cpuCoreHour: 0.04, memoryGiBHour: 0.005, currency: "USD" }, "prometheus");
    expect(await lines(metrics, "slumber_price_per_hour")).toEqual([
      'slumber_price_per_hour{resource="cpu_core",currency="USD",source="prometheus"} 0.04',
      'slumber_price_per_hour{resource="memory_gib",currency="USD",source="prometheus"} 0.005',
    ]);
    metrics.priceFetchFailed();
    expect(await lines(metrics, "slumber_price_fetch_errors_total")).toEqual([
      "slumber_price_fetch_errors_total 1",
    ]);
  });
});

describe("slumber_estimated_always_on_cost_total", () => {
  it("accrues hourly cost × observed time whether asleep or awake, from the second observation", async () => {
    const metrics = new SlumberMetrics({ defaultMetrics: false });
    const HOUR = 3_600_000;
    metrics.targetObserved(view({ hourlyCost: 0.5 }), T0);
    metrics.targetObserved(view({ hourlyCost: 0.5 }), T0 + HOUR);
    metrics.targetObserved(
      view({ state: "asleep", desired: "asleep", since: T0 + 2 * HOUR, hourlyCost: 0.5 }),
      T0 + 3 * HOUR,
    );
    expect(await lines(metrics, "slumber_estimated_always_on_cost_total")).toEqual([
      'slumber_estimated_always_on_cost_total{kind="vcluster",namespace="vc-a",name="a",currency="USD"} 1.5',
    ]);
    // The savings are the asleep part of the same observed time.
    expect(await lines(metrics, "slumber_estimated_savings_total")).toEqual([
      'slumber_estimated_savings_total{kind="vcluster",namespace="vc-a",name="a",currency="USD"} 0.5',
    ]);
    metrics.targetRemoved(ref);
    expect(await lines(metrics, "slumber_estimated_always_on_cost_total")).toEqual([]);
  });
});
