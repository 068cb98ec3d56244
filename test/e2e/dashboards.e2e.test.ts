// The committed dashboards and rules against a real Prometheus scraping a real agent on the local control
// plane: two virtual clusters with known requests sleep for a measured time; every dashboard query and
// every rule evaluates without error (Grafana's variables substituted), and the money the savings panels
// show equals requests × prices × time asleep within 2%.
//
// Prices come from "OpenCost": a small exporter serving node_cpu_hourly_cost / node_ram_hourly_cost for
// two nodes, scraped by the same Prometheus that the agent reads with --prices-from-prometheus. The agent
// starts before Prometheus answers, so it first falls back to its flags, loudly.

import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join, resolve } from "node:path";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { dashboardQueries, type GrafanaContext, substituteVariables } from "../support/grafana.js";
import {
  type Admin,
  type AgentProcess,
  adminClients,
  createVcluster,
  freePort,
  idleForHours,
  metricsText,
  namespaces,
  readStatefulSet,
  slumberCli,
  startAgent,
  vclusterAsleep,
  waitFor,
} from "./harness.js";
import {
  instantQuery,
  type PrometheusProcess,
  rangeQuery,
  ruleStates,
  type Sample,
  startPrometheus,
} from "./prometheus.js";

const repoRoot = resolve(import.meta.dirname, "../..");
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const GIB = 1024 ** 3;
const SCRAPE_SECONDS = 1;
/**
 * How long the two virtual clusters sleep, at least. The agent counts time asleep from second-precision
 * records to the pass that sees the wake, so each end is off by up to a pass (seen: 1-3 s with --resync 2s);
 * 4 minutes keep that near 1%, inside the 2% the issue allows.
 */
const SLEEP_MS = 240_000;

/**
 * OpenCost's per-node prices as the stand-in exporter serves them; Slumber must use their averages. They
 * average to OpenCost's defaults on purpose: the control plane is shared, and any other agent running
 * against it (with default prices) may take the sleep snapshot of these clusters; with equal prices the
 * money is the same whoever does.
 */
const NODE_PRICES = [
  { node: "kwok-node-0", cpu: 0.041611, ram: 0.005237 },
  { node: "kwok-node-1", cpu: 0.021611, ram: 0.003237 },
];
const CPU_PRICE = (0.041611 + 0.021611) / 2;
const RAM_PRICE = (0.005237 + 0.003237) / 2;

/** The fixtures' requests: control plane 200m/256Mi (harness) plus synced pods of 100m/128Mi each. */
const hourlyCostOf = (syncedPods: number): number =>
  (0.2 + 0.1 * syncedPods) * CPU_PRICE + (((256 + 128 * syncedPods) * 1024 ** 2) / GIB) * RAM_PRICE;

let admin: Admin;
let agent: AgentProcess;
let prometheus: PrometheusProcess;
let openCost: Server;
const scenarioNamespaces = namespaces(() => admin);

function serveOpenCost(port: number): Promise<Server> {
  const body = [
    "# TYPE node_cpu_hourly_cost gauge",
    ...NODE_PRICES.map((n) => `node_cpu_hourly_cost{node="${n.node}",instance_type="kwok"} ${n.cpu}`),
    "# TYPE node_ram_hourly_cost gauge",
    ...NODE_PRICES.map((n) => `node_ram_hourly_cost{node="${n.node}",instance_type="kwok"} ${n.ram}`),
    "",
  ].join("\n");
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(body);
  });
  return new Promise((ok) => server.listen(port, "127.0.0.1", () => ok(server)));
}

afterAll(async () => {
  prometheus?.stop();
  openCost?.close();
  await agent?.stop();
  await scenarioNamespaces.removeAll();
});

interface Fixture {
  namespace: string;
  name: string;
  team: string;
  syncedPods: number;
  sleepingSince: number;
  wokeAt: number;
  hourlyCostExported?: number;
}

const fixtures: Fixture[] = [];
let agentStartedAt = 0;

beforeAll(async () => {
  admin = adminClients(inject("adminKubeconfig"));
  // Namespaces first: the agent is told to leave every other namespace of the shared cluster alone.
  const nsA = await scenarioNamespaces.create("dash-a");
  const nsB = await scenarioNamespaces.create("dash-b");
  fixtures.push(
    { namespace: nsA, name: "alpha", team: "payments", syncedPods: 1, sleepingSince: 0, wokeAt: 0 },
    { namespace: nsB, name: "beta", team: "search", syncedPods: 3, sleepingSince: 0, wokeAt: 0 },
  );
  // alpha's team comes from its Namespace; beta's from its control plane (which wins over the Namespace).
  await admin.core.patchNamespace(
    { name: nsA, body: { metadata: { labels: { team: "payments", "cost-center": "cc-1" } } } },
    mergePatch,
  );
  await admin.core.patchNamespace(
    { name: nsB, body: { metadata: { labels: { team: "ignored", "cost-center": "cc-2" } } } },
    mergePatch,
  );

  const [promPort, openCostPort] = [await freePort(), await freePort()];
  openCost = await serveOpenCost(openCostPort);
  agentStartedAt = Date.now();
  agent = await startAgent({
    kubeconfig: inject("agentKubeconfig"),
    config: ["excludeNamespaces:", `  - "(?!(?:${nsA}|${nsB})$).*"`, ""].join("\n"),
    extraArgs: [
      "--cost-labels",
      "team,cost-center",
      "--prices-from-prometheus",
      `http://127.0.0.1:${promPort}`,
      "--prices-refresh",
      "2s",
    ],
  });
  const rules = readFileSync(join(repoRoot, "deploy/prometheus/slumber-rules.yaml"), "utf8");
  prometheus = await startPrometheus({
    port: promPort,
    scrapeIntervalSeconds: SCRAPE_SECONDS,
    jobs: { slumber: [`127.0.0.1:${agent.metricsPort}`], opencost: [`127.0.0.1:${openCostPort}`] },
    // The same rules, evaluated every second instead of every minute.
    ruleFiles: { "slumber-rules.yaml": rules.replaceAll("interval: 1m", `interval: ${SCRAPE_SECONDS}s`) },
  });
});

const price = async (resource: string): Promise<Sample | undefined> =>
  (await instantQuery(prometheus.url, `slumber_price_per_hour{resource="${resource}"}`))[0];

describe("dashboards and rules on a real Prometheus", () => {
  it("prices: flags until Prometheus answers (logged, counted), then OpenCost's averages", async () => {
    await waitFor(
      "prices from Prometheus",
      60_000,
      async () => (await price("cpu_core"))?.metric.source === "prometheus",
    );
    expect(Number((await price("cpu_core"))?.value[1])).toBeCloseTo(CPU_PRICE, 12);
    expect(Number((await price("memory_gib"))?.value[1])).toBeCloseTo(RAM_PRICE, 12);
    expect((await price("cpu_core"))?.metric.currency).toBe("USD");
    // The agent's first read happened before Prometheus listened: it said so and counted it.
    expect(agent.logs()).toContain("cannot read prices from Prometheus");
    expect(await metricsText(agent)).toMatch(/^slumber_price_fetch_errors_total [1-9]/m);
  });

  it("two virtual clusters sleep for a known time, carrying their team on slumber_target_info", async () => {
    const [alpha, beta] = fixtures as [Fixture, Fixture];
    for (const fx of fixtures) {
      await createVcluster(admin, {
        namespace: fx.namespace,
        name: fx.name,
        replicas: 1,
        syncedPods: fx.syncedPods,
      });
    }
    await admin.apps.patchNamespacedStatefulSet(
      { namespace: beta.namespace, name: beta.name, body: { metadata: { labels: { team: "search" } } } },
      mergePatch,
    );
    for (const fx of fixtures) {
      await waitFor(`${fx.name} running`, 90_000, async () => {
        const sts = await readStatefulSet(admin, fx.namespace, fx.name);
        const pods = await admin.core.listNamespacedPod({ namespace: fx.namespace });
        const running = pods.items.filter((p) => p.status?.phase === "Running").length;
        return (sts.status?.readyReplicas ?? 0) >= 1 && running === 1 + fx.syncedPods;
      });
    }
    for (const fx of fixtures) {
      await admin.apps.patchNamespacedStatefulSet(
        {
          namespace: fx.namespace,
          name: fx.name,
          body: { metadata: { annotations: { "slumber.dev/sleep-after": "30m", ...idleForHours() } } },
        },
        mergePatch,
      );
    }
    for (const fx of fixtures) {
      const sts = await waitFor(`${fx.name} asleep`, 60_000, vclusterAsleep(admin, fx.namespace, fx.name));
      const annotations = sts.metadata?.annotations ?? {};
      fx.sleepingSince = Date.parse(annotations["slumber.dev/sleeping-since"] ?? "");
      // The snapshot the agent took is the requests priced at OpenCost's averages (written with 6 decimals).
      const snapshot = Number(annotations["slumber.dev/hourly-cost"]);
      expect(Math.abs(snapshot - hourlyCostOf(fx.syncedPods))).toBeLessThanOrEqual(5e-7 + 1e-12);
    }
    expect(alpha.sleepingSince).toBeGreaterThan(agentStartedAt);

    // slumber status --by team reads the same labels from the cluster (the CLI as the agent's identity).
    const csv = await slumberCli(inject("agentKubeconfig"), "status", "--by", "team", "-o", "csv");
    const rows = Object.fromEntries(
      csv
        .trim()
        .split("\r\n")
        .map((line) => line.split(","))
        .map(([team, targets, asleep]) => [team, `${targets}/${asleep}`]),
    );
    expect(rows.payments).toBe("1/1");
    expect(rows.search).toBe("1/1");

    const info = await waitFor("info series", 30_000, async () => {
      const samples = await instantQuery(prometheus.url, "slumber_target_info");
      return samples.length === 2 ? samples : false;
    });
    const byName = Object.fromEntries(info.map((s) => [s.metric.name, s.metric]));
    expect(byName.alpha).toMatchObject({
      kind: "vcluster",
      namespace: alpha.namespace,
      team: "payments",
      cost_center: "cc-1",
    });
    expect(byName.beta).toMatchObject({
      kind: "vcluster",
      namespace: beta.namespace,
      team: "search",
      cost_center: "cc-2",
    });

    // While asleep the cost gauge shows the snapshot: what the cluster cost per hour before it slept.
    for (const fx of fixtures) {
      const [gauge] = await instantQuery(
        prometheus.url,
        `slumber_target_hourly_cost{namespace="${fx.namespace}"}`,
      );
      fx.hourlyCostExported = Number(gauge?.value[1]);
      expect(Math.abs(fx.hourlyCostExported - hourlyCostOf(fx.syncedPods))).toBeLessThanOrEqual(5e-7 + 1e-12);
    }

    // Asleep for a known time, then woken deliberately; the wake time is the one we record.
    const sleepUntil = Math.max(...fixtures.map((fx) => fx.sleepingSince)) + SLEEP_MS;
    await new Promise((r) => setTimeout(r, Math.max(0, sleepUntil - Date.now())));
    for (const fx of fixtures) {
      // The annotation has second precision: write it at the start of a second, so it is the wake's time.
      await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000)));
      fx.wokeAt = Math.floor(Date.now() / 1000) * 1000;
      await admin.apps.patchNamespacedStatefulSet(
        {
          namespace: fx.namespace,
          name: fx.name,
          body: { metadata: { annotations: { "slumber.dev/last-wake": new Date(fx.wokeAt).toISOString() } } },
        },
        mergePatch,
      );
    }
    for (const fx of fixtures) {
      await waitFor(`${fx.name} awake`, 60_000, async () => {
        const sts = await readStatefulSet(admin, fx.namespace, fx.name);
        return sts.spec?.replicas === 1 && sts.metadata?.annotations?.["loft.sh/paused"] === undefined;
      });
    }
    // Ready again: the wakes completed (a loaded control plane can take a while to run the pod).
    await waitFor("both wakes completed", 180_000, async () => {
      const [waking] = await instantQuery(
        prometheus.url,
        `sum(slumber_target_waking{namespace=~"${alpha.namespace}|${beta.namespace}"})`,
      );
      return waking?.value[1] === "0";
    });
    // Prometheus has scraped the final counters.
    await waitFor("asleep gauges at 0 in Prometheus", 30_000, async () => {
      const asleep = await instantQuery(
        prometheus.url,
        `sum(slumber_target_asleep{namespace=~"${alpha.namespace}|${beta.namespace}"})`,
      );
      return asleep[0]?.value[1] === "0";
    });
    await new Promise((r) => setTimeout(r, 3 * SCRAPE_SECONDS * 1000));
  }, 420_000);

  it("every dashboard query evaluates, and the savings panels show requests × prices × time asleep (±2%)", async () => {
    const [alpha, beta] = fixtures as [Fixture, Fixture];
    expect(alpha.wokeAt).toBeGreaterThan(0);
    const expected = (fx: Fixture) =>
      hourlyCostOf(fx.syncedPods) * ((fx.wokeAt - fx.sleepingSince) / 3_600_000);
    const now = Math.floor(Date.now() / 1000);
    const rangeSeconds = now - Math.floor(agentStartedAt / 1000) + 30;
    const queries = dashboardQueries(join(repoRoot, "dashboards"));
    expect(queries.length).toBeGreaterThan(20);

    const base: GrafanaContext = { rangeSeconds, intervalSeconds: 5, scrapeIntervalSeconds: SCRAPE_SECONDS };
    const contexts: Record<string, GrafanaContext> = {
      "both namespaces, every team": {
        ...base,
        selections: { namespace: [alpha.namespace, beta.namespace] },
      },
      "team payments only": {
        ...base,
        selections: { namespace: [alpha.namespace, beta.namespace], team: ["payments"] },
      },
      "All everywhere": base,
    };
    const results = new Map<string, Sample[]>();
    for (const [label, context] of Object.entries(contexts)) {
      for (const q of queries) {
        const expr = substituteVariables(q.expr, q.variables, context);
        expect(expr, `${q.file} / ${q.panel}`).not.toContain("$");
        if (q.instant) {
          results.set(`${label}|${q.panel}|${q.refId}`, await instantQuery(prometheus.url, expr, now));
        } else {
          await rangeQuery(prometheus.url, expr, now - rangeSeconds, now, context.intervalSeconds);
        }
      }
    }
    const value = (context: string, panel: string, refId = "A"): Sample[] => {
      const samples = results.get(`${context}|${panel}|${refId}`);
      if (!samples) throw new Error(`no instant query for panel "${panel}" ${refId}`);
      return samples;
    };
    const single = (context: string, panel: string, refId = "A"): number => {
      const samples = value(context, panel, refId);
      expect(samples, `${panel} ${refId}`).toHaveLength(1);
      return Number(samples[0]!.value[1]);
    };
    const within2pct = (actual: number, wanted: number, what: string) => {
      expect(wanted, what).toBeGreaterThan(0);
      expect(Math.abs(actual - wanted) / wanted, `${what}: ${actual} vs expected ${wanted}`).toBeLessThan(
        0.02,
      );
    };

    const both = "both namespaces, every team";
    const total = expected(alpha) + expected(beta);
    within2pct(single(both, "Saved this month"), total, "saved, both clusters");
    within2pct(single(both, "Cost avoided against always-on", "C"), total, "avoided");
    within2pct(single("team payments only", "Saved this month"), expected(alpha), "saved, team payments");
    const byTeam = Object.fromEntries(
      value(both, "Savings by team").map((s) => [s.metric.team, Number(s.value[1])]),
    );
    within2pct(byTeam.payments ?? 0, expected(alpha), "savings by team: payments");
    within2pct(byTeam.search ?? 0, expected(beta), "savings by team: search");
    const top = value(both, "Top 10 clusters by savings");
    expect(top.map((s) => s.metric.name).sort()).toEqual(["alpha", "beta"]);
    const byTarget = Object.fromEntries(
      value(both, "Savings by virtual cluster and namespace").map((s) => [s.metric.name, Number(s.value[1])]),
    );
    within2pct(byTarget.beta ?? 0, expected(beta), "savings of beta");
    expect(single(both, "Projected monthly savings (last 24 h's pace × 730 h)")).toBeGreaterThan(0);
    // Without deploy/prometheus's rules loaded, the panels that read recorded series compute them instead.
    for (const q of queries.filter((q) => q.expr.includes("slumber_target:estimated_savings:"))) {
      const expr = substituteVariables(q.expr, q.variables, contexts[both]!).replaceAll(
        "slumber_target:estimated_savings:",
        "slumber_target:not_recorded_here:",
      );
      const samples = q.instant
        ? await instantQuery(prometheus.url, expr, now)
        : (await rangeQuery(prometheus.url, expr, now - rangeSeconds, now, 5)).map((series) => ({
            metric: series.metric,
            value: series.values.at(-1)!,
          }));
      expect(samples.length, `${q.panel} without recording rules`).toBeGreaterThan(0);
    }
    const share = single(both, "Share of hours asleep");
    expect(share).toBeGreaterThan(0);
    expect(share).toBeLessThan(1);
    // Always-on counts every observed hour, asleep or awake, so it is at least what sleeping avoided. Compare
    // it with the avoided figure of the same panel (same scrapes, same extrapolation by increase()), not with
    // the wall-clock expectation, which increase() can miss by a fraction of a percent either way.
    const alwaysOn = single(both, "Cost avoided against always-on", "A");
    const avoided = single(both, "Cost avoided against always-on", "C");
    expect(alwaysOn).toBeGreaterThanOrEqual(avoided);
    // ... and at most both clusters' hourly cost over the whole time the agent could have observed them.
    const observableHours = (now - agentStartedAt / 1000) / 3600;
    expect(alwaysOn).toBeLessThan(
      (hourlyCostOf(alpha.syncedPods) + hourlyCostOf(beta.syncedPods)) * observableHours * 1.02,
    );
    const withSlumber = single(both, "Cost avoided against always-on", "B");
    expect(withSlumber).toBeCloseTo(alwaysOn - avoided, 9);
    // Both clusters ran awake after their wake (scraped three times since): those hours count as always-on
    // but not as avoided, so the cost with Slumber is above 0 (it is exactly 0 if awake hours are dropped).
    expect(withSlumber).toBeGreaterThan(0);
    expect(single(both, "Share of cost avoided")).toBeCloseTo(
      single(both, "Cost avoided against always-on", "C") / alwaysOn,
      9,
    );
    expect(value(both, "Prices in effect").map((s) => s.metric.source)).toEqual(["prometheus", "prometheus"]);
    expect(single(both, "Wakes in flight")).toBe(0);
    expect(value(both, "Agent up").map((s) => s.value[1])).toEqual(["1"]);

    // The worked example of the README, from what the agent exported.
    console.log(
      JSON.stringify(
        {
          workedExample: {
            requests: { cpuCores: 0.2 + 0.1 * alpha.syncedPods, memoryMiB: 256 + 128 * alpha.syncedPods },
            prices: { cpuCoreHour: CPU_PRICE, memoryGiBHour: RAM_PRICE },
            hourlyCostExportedWhileAsleep: alpha.hourlyCostExported,
            hourlyCostExpected: hourlyCostOf(alpha.syncedPods),
            sleepingSince: new Date(alpha.sleepingSince).toISOString(),
            wokeAt: new Date(alpha.wokeAt).toISOString(),
            asleepSeconds: (alpha.wokeAt - alpha.sleepingSince) / 1000,
            savedShownByDashboard: byTeam.payments,
            savedExpected: expected(alpha),
            weekendFri19ToMon08: hourlyCostOf(alpha.syncedPods) * 61,
          },
          beta: {
            hourlyCostExportedWhileAsleep: beta.hourlyCostExported,
            asleepSeconds: (beta.wokeAt - beta.sleepingSince) / 1000,
            savedShownByDashboard: byTeam.search,
            savedExpected: expected(beta),
          },
          totals: { saved: single(both, "Saved this month"), expected: total },
        },
        null,
        2,
      ),
    );
  });

  it("every rule evaluates without error, recording rules have data, no alert fires on a healthy run", async () => {
    const rules = parseYaml(readFileSync(join(repoRoot, "deploy/prometheus/slumber-rules.yaml"), "utf8")) as {
      groups: Array<{ rules: Array<{ record?: string; alert?: string; expr: string }> }>;
    };
    const declared = rules.groups.flatMap((g) => g.rules);
    const states = await waitFor("every rule evaluated", 30_000, async () => {
      const all = await ruleStates(prometheus.url);
      return all.length === declared.length && all.every((r) => r.health === "ok") ? all : false;
    });
    for (const rule of states) expect(rule.lastError ?? "", rule.name).toBe("");
    for (const rule of declared) await instantQuery(prometheus.url, rule.expr);
    const recorded = await instantQuery(prometheus.url, "slumber_target:estimated_savings:rate5m");
    expect(recorded.length).toBeGreaterThanOrEqual(2);
    const firing = await instantQuery(prometheus.url, 'ALERTS{alertstate="firing"}');
    expect(firing).toEqual([]);
  });
});
