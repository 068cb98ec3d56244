import { describe, expect, it } from "vitest";
import { SlumberMetrics } from "../../src/metrics/registry.js";
import type { TargetView } from "../../src/targets/types.js";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format into samples (enough of it for prom-client's output). */
function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`unparsable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

async function sampleValue(
  metrics: SlumberMetrics,
  name: string,
  labels: Record<string, string>,
): Promise<number | undefined> {
  const samples = parseSamples(await metrics.metricsText());
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    ?.value;
}

const T0 = Date.parse("2026-03-06T19:00:00Z");
const MIN = 60_000;
const team = { kind: "vcluster", namespace: "vcluster-team-a", name: "team-a" } as const;
const labels = { kind: "vcluster", namespace: "vcluster-team-a", name: "team-a" };

function view(
  state: TargetView["state"],
  since: number | null,
  overrides: Partial<TargetView> = {},
): TargetView {
  return {
    ...team,
    state,
    desired: state,
    reason: "test",
    since,
    next: null,
    hourlyCost: 0.6,
    currency: "USD",
    savedSoFar: 0,
    policyErrors: [],
    ...overrides,
  };
}

describe("SlumberMetrics", () => {
  it("sets the state, cost and policy-error gauges", async () => {
    const metrics = new SlumberMetrics({ defaultMetrics: false });
    metrics.targetObserved(
      view("asleep", T0, {
        policyErrors: [{ key: "slumber.dev/sleep-after", value: "soon", message: "bad" }],
      }),
      T0,
    );
    expect(await sampleValue(metrics, "slumber_target_asleep", labels)).toBe(1);
    expect(await sampleValue(metrics, "slumber_target_hourly_cost", { ...labels, currency: "USD" })).toBe(
      0.6,
    );
    expect(await sampleValue(metrics, "slumber_policy_errors", labels)).toBe(1);
    metrics.targetObserved(view("awake", T0), T0 + MIN);
    expect(await sampleValue(metrics, "slumber_target_asleep", labels)).toBe(0);
    expect(await sampleValue(metrics, "slumber_policy_errors", labels)).toBe(0);
  });

  it("accrues nothing on the first observation, even of a target asleep for hours", async () => {
    const metrics = new SlumberMetrics({ defaultMetrics: false });
    metrics.targetObserved(view("asleep", T0 - 5 * 60 * MIN), T0);
    expect(await sampleValue(metrics, "slumber_asleep_seconds_total", labels)).toBe(0);
    expect(
      await sampleValue(metrics, "slumber_estimated_savings_total", { ...labels, currency: "USD" }),
    ).toBe(0);
  });

  it("accrues time asleep and hourly cost × hours between observations while asleep", async () => {
    const metrics = new SlumberMetrics({ defaultMetrics: false });
    metrics.targetObserved(view("asleep", T0), T0);
    metrics.targetObserved(view("asleep", T0), T0 + 30 * MIN);
    metrics.targetObserved(view("asleep", T0), T0 + 90 * MIN);
    expect(await sampleValue(metrics, "slumber_asleep_seconds_total", labels)).toBe(90 * 60);
    expect(
      await sampleValue(metrics, "slumber_estimated_savings_total", { ...labels, currency: "USD" }),
    ).toBeCloseTo(0.6 * 1.5, 12);
  });

  it("accrues nothing across an awake period", async () => {
    const metrics = new SlumberMetrics({ defaultMetrics: false });
    metrics.targetObserved(view("awake", T0 - 60 * MIN), T0);
    metrics.targetObserved(view("awake", T0 - 60 * MIN), T0 + 60 * MIN);
    expect(await sampleValue(metrics, "slumber_asleep_seconds_total", labels)).toBe(0);
  });

  it("accrues only the asleep part of an interval in which the target woke or fell asleep", async () => {
    const metrics = new SlumberMetrics({ defaultMetrics: false });
    metrics.targetObserved(view("awake", null), T0);
    // Fell asleep 10 minutes into a 30-minute gap: 20 minutes asleep.
    metrics.targetObserved(view("asleep", T0 + 10 * MIN), T0 + 30 * MIN);
    // Woke 15 minutes into the next 30-minute gap: 15 more minutes.
    metrics.targetObserved(view("awake", T0 + 45 * MIN), T0 + 60 * MIN);
    expect(await sampleValue(metrics, "slumber_asleep_seconds_total", labels)).toBe(35 * 60);
  });

  it("accrues nothing for an interval whose change time is unknown", async () => {
    const metrics = new SlumberMetrics({ defaultMetrics: false });
    metrics.targetObserved(view("asleep", T0), T0);
    metrics.targetObserved(view("awake", null), T0 + 30 * MIN);
    expect(await sampleValue(metrics, "slumber_asleep_seconds_total", labels)).toBe(0);
  });

  it("prices savings at the cost snapshot of each observation", async () => {
    const metrics = new SlumberMetrics({ defaultMetrics: false });
    metrics.targetObserved(view("asleep", T0, { hourlyCost: 1 }), T0);
    metrics.targetObserved(view("asleep", T0, { hourlyCost: 1 }), T0 + 60 * MIN);
    metrics.targetObserved(view("asleep", T0, { hourlyCost: 3 }), T0 + 120 * MIN);
    expect(
      await sampleValue(metrics, "slumber_estimated_savings_total", { ...labels, currency: "USD" }),
    ).toBe(4);
  });

  it("deletes every series of a removed target, transitions included", async () => {
    const metrics = new SlumberMetrics({ defaultMetrics: false });
    const other = { kind: "namespace", namespace: "shop-dev", name: "shop-dev" } as const;
    metrics.targetObserved(view("asleep", T0), T0);
    metrics.targetObserved(view("awake", null, { ...other }), T0);
    metrics.transition(team, "asleep", "schedule");
    metrics.transition(team, "awake", "activity");
    metrics.transition(other, "asleep", "inactivity");
    metrics.targetRemoved(team);
    const remaining = parseSamples(await metrics.metricsText()).filter((s) => s.name.startsWith("slumber_"));
    expect(remaining.filter((s) => s.labels.name === "team-a")).toEqual([]);
    expect(remaining.filter((s) => s.labels.name === "shop-dev").map((s) => s.name)).toContain(
      "slumber_transitions_total",
    );
  });

  it("counts transitions, wakes, proxy requests, passes and API errors", async () => {
    const metrics = new SlumberMetrics({ defaultMetrics: false });
    metrics.transition(team, "asleep", "schedule");
    metrics.transition(team, "asleep", "schedule");
    metrics.wakeCompleted("vcluster", 42);
    metrics.proxyRequest("vcluster-team-a", "team-a", "held");
    metrics.loopCompleted(0.2);
    metrics.apiError("patch StatefulSet", 409);
    metrics.apiError("list Pod", undefined);
    expect(
      await sampleValue(metrics, "slumber_transitions_total", {
        ...labels,
        to: "asleep",
        reason: "schedule",
      }),
    ).toBe(2);
    expect(
      await sampleValue(metrics, "slumber_wake_duration_seconds_bucket", { kind: "vcluster", le: "30" }),
    ).toBe(0);
    expect(
      await sampleValue(metrics, "slumber_wake_duration_seconds_bucket", { kind: "vcluster", le: "45" }),
    ).toBe(1);
    expect(
      await sampleValue(metrics, "slumber_wake_duration_seconds_bucket", { kind: "vcluster", le: "300" }),
    ).toBe(1);
    expect(
      await sampleValue(metrics, "slumber_proxy_requests_total", {
        namespace: "vcluster-team-a",
        name: "team-a",
        outcome: "held",
      }),
    ).toBe(1);
    expect(await sampleValue(metrics, "slumber_reconcile_duration_seconds_count", {})).toBe(1);
    expect(
      await sampleValue(metrics, "slumber_api_errors_total", { operation: "patch StatefulSet", code: "409" }),
    ).toBe(1);
    expect(await sampleValue(metrics, "slumber_api_errors_total", { operation: "list Pod", code: "0" })).toBe(
      1,
    );
  });

  it("exports the process and Node.js default metrics on its own registry", async () => {
    const metrics = new SlumberMetrics();
    const names = new Set(parseSamples(await metrics.metricsText()).map((s) => s.name));
    expect(names).toContain("process_cpu_seconds_total");
    expect(names).toContain("nodejs_heap_size_used_bytes");
    // A second instance must not clash with the first (no global registry).
    expect(() => new SlumberMetrics()).not.toThrow();
  });

  it("declares exactly the SPEC §6 metric names and types, plus the appendix's info, price, wake and held-requests series", async () => {
    const metrics = new SlumberMetrics({ defaultMetrics: false });
    const types = [...(await metrics.metricsText()).matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(
      (m) => `${m[1]} ${m[2]}`,
    );
    expect(types.sort()).toEqual(
      [
        "slumber_api_errors_total counter",
        "slumber_asleep_seconds_total counter",
        "slumber_estimated_always_on_cost_total counter",
        "slumber_estimated_savings_total counter",
        "slumber_policy_errors gauge",
        "slumber_price_fetch_errors_total counter",
        "slumber_price_per_hour gauge",
        "slumber_proxy_held_requests gauge",
        "slumber_proxy_requests_total counter",
        "slumber_target_desired_asleep gauge",
        "slumber_target_info gauge",
        "slumber_target_waking gauge",
        "slumber_reconcile_duration_seconds histogram",
        "slumber_target_asleep gauge",
        "slumber_target_hourly_cost gauge",
        "slumber_transitions_total counter",
        "slumber_wake_duration_seconds histogram",
      ].sort(),
    );
  });
});
