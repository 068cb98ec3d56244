// The dashboard a budget owner reads: what sleeping saved this month and last, what it will save at the
// current pace, for which team and which cluster, and how the numbers are made.
import { PanelBuilder as BarGauge } from "@grafana/grafana-foundation-sdk/bargauge";
import {
  BarGaugeDisplayMode,
  ReduceDataOptionsBuilder,
  VizOrientation,
} from "@grafana/grafana-foundation-sdk/common";
import { DashboardBuilder } from "@grafana/grafana-foundation-sdk/dashboard";
import { PanelBuilder as Gauge } from "@grafana/grafana-foundation-sdk/gauge";
import { PanelBuilder as Stat } from "@grafana/grafana-foundation-sdk/stat";
import { PanelBuilder as Table } from "@grafana/grafana-foundation-sdk/table";
import { PanelBuilder as Text, TextMode } from "@grafana/grafana-foundation-sdk/text";
import { PanelBuilder as TimeSeries } from "@grafana/grafana-foundation-sdk/timeseries";
import { panel, withVariables } from "./panels.ts";
import { type QueryOptions, queries } from "./queries.ts";

export interface DashboardOptions extends QueryOptions {}

/** Grafana's unit for an ISO 4217 code (`currencyUSD`); Grafana knows the common ones by that name. */
export const currencyUnit = (currency: string): string => `currency${currency.toUpperCase()}`;

const lastValue = () => new ReduceDataOptionsBuilder().calcs(["lastNotNull"]).values(false);

export function financeDashboard(options: DashboardOptions): DashboardBuilder {
  const q = queries(options);
  const unit = currencyUnit(options.currency);
  const team = options.teamLabel;
  const model = [
    "### How Slumber counts money",
    "",
    `Amounts are in **${options.currency}** (the agent's \`--currency\`); series in another currency are not shown.`,
    "",
    "- **Hourly cost** of a target = Σ over its pods of CPU cores × CPU price + memory GiB × memory price, from",
    "  each container's *requests* (limits where it has none), captured when the target goes to sleep.",
    "  `slumber.dev/hourly-cost` on a target overrides the estimate.",
    "- **Saved** = hourly cost × hours asleep, counted by the agent on every pass (`slumber_estimated_savings_total`),",
    "  only for time the agent saw. Totals are `increase()` per series, so agent restarts lose nothing but downtime.",
    "- **Prices** in effect are in the *Prices in effect* panel: OpenCost's defaults (0.031611 per vCPU-hour,",
    "  0.004237 per GiB-hour) unless set with `--cpu-price`/`--memory-price`, or read from OpenCost's",
    "  `node_cpu_hourly_cost`/`node_ram_hourly_cost` with `--prices-from-prometheus`.",
    "- **Projected monthly** = the last day's average savings per hour × **730 hours** (OpenCost's month).",
    "- **Always-on cost** = hourly cost × every hour the agent observed the target, asleep or awake",
    "  (`slumber_estimated_always_on_cost_total`): the same observed time as the savings, as if it never slept.",
    `- Teams come from the \`${team}\` label (\`slumber run --cost-labels\`) on the control plane or its Namespace.`,
  ].join("\n");

  const dashboard = withVariables(
    new DashboardBuilder("Slumber / Savings")
      .uid("slumber-finance")
      .description("Money not spent while virtual clusters and namespaces slept, by team and cluster")
      .tags(["slumber", "finance", "cost"])
      .time({ from: "now-30d", to: "now" })
      .refresh("5m")
      .timezone("browser"),
    team,
  );

  return dashboard
    .withPanel(
      panel(new Stat().unit(unit).decimals(2).reduceOptions(lastValue()).timeFrom("now/M"), {
        title: "Saved this month",
        description:
          "Money not spent this calendar month (so far) because targets slept: hourly cost × hours asleep, summed over the selected teams, clusters and namespaces.",
        width: 6,
        height: 5,
        queries: [{ expr: q.savedTotal, instant: true }],
      }),
    )
    .withPanel(
      panel(
        new Stat().unit(unit).decimals(2).reduceOptions(lastValue()).timeFrom("now/M").timeShift("1M/M"),
        {
          title: "Saved last month",
          description:
            "Money not spent in the previous calendar month because targets slept. Needs a month of Prometheus retention.",
          width: 6,
          height: 5,
          queries: [{ expr: q.savedTotal, instant: true }],
        },
      ),
    )
    .withPanel(
      panel(new Stat().unit(unit).decimals(2).reduceOptions(lastValue()), {
        title: "Projected monthly savings (last 24 h's pace × 730 h)",
        description:
          "A projection, not a measurement: the average savings per hour over the last 24 hours multiplied by 730 hours (one month as OpenCost counts it). Weekends and holidays make it move.",
        width: 6,
        height: 5,
        queries: [{ expr: q.projectedMonthly, instant: true }],
      }),
    )
    .withPanel(
      panel(new Stat().unit("percentunit").decimals(1).reduceOptions(lastValue()), {
        title: "Share of hours asleep",
        description:
          "Of the hours the selected targets existed in the dashboard's time range, the share they spent asleep (averaged over targets).",
        width: 6,
        height: 5,
        queries: [{ expr: q.shareAsleep, instant: true }],
      }),
    )
    .withPanel(
      panel(new Stat().unit(unit).decimals(2).reduceOptions(lastValue()), {
        title: "Cost avoided against always-on",
        description:
          "Over the dashboard's time range: what the selected targets would have cost running around the clock, what they cost with Slumber (estimated), and the difference sleeping made.",
        width: 9,
        height: 6,
        queries: [
          { expr: q.alwaysOnCost, instant: true, legend: "Always-on cost" },
          { expr: q.actualCost, instant: true, legend: "Cost with Slumber" },
          { expr: q.savedTotal, instant: true, legend: "Avoided" },
        ],
      }),
    )
    .withPanel(
      panel(new Gauge().unit("percentunit").min(0).max(1).decimals(1).reduceOptions(lastValue()), {
        title: "Share of cost avoided",
        description: "Avoided cost divided by the always-on cost over the dashboard's time range.",
        width: 5,
        height: 6,
        queries: [{ expr: q.avoidedShare, instant: true }],
      }),
    )
    .withPanel(
      panel(new Table().decimals(6), {
        title: "Prices in effect",
        description:
          "Prices each agent uses now (slumber_price_per_hour): cpu_core per vCPU-hour, memory_gib per GiB-hour, and whether they come from the flags or from OpenCost via Prometheus.",
        width: 10,
        height: 6,
        queries: [{ expr: q.prices, instant: true, table: true }],
      }),
    )
    .withPanel(
      panel(new Text().mode(TextMode.Markdown).content(model), {
        title: "The cost model",
        description: "How every amount on this dashboard is computed, and where prices come from.",
        width: 24,
        height: 8,
        queries: [],
      }),
    )
    .withPanel(
      panel(new Table().unit(unit).decimals(2), {
        title: "Savings by team",
        description: `Money saved in the dashboard's time range per value of the \`${team}\` cost label; empty means targets without the label.`,
        width: 8,
        height: 8,
        queries: [{ expr: q.savedByTeam, instant: true, table: true }],
      }),
    )
    .withPanel(
      panel(
        new BarGauge()
          .unit(unit)
          .decimals(2)
          .orientation(VizOrientation.Horizontal)
          .displayMode(BarGaugeDisplayMode.Gradient)
          .reduceOptions(lastValue()),
        {
          title: "Savings by team (bars)",
          description: "The same totals per team as the table, to compare at a glance.",
          width: 16,
          height: 8,
          queries: [{ expr: q.savedByTeam, instant: true, legend: `{{${team}}}` }],
        },
      ),
    )
    .withPanel(
      panel(new Table().unit(unit).decimals(2), {
        title: "Savings by virtual cluster and namespace",
        description:
          "Money saved in the dashboard's time range per target (a virtual cluster by host namespace and name, or a namespace), with its team and host cluster.",
        width: 12,
        height: 10,
        queries: [{ expr: q.savedByTarget, instant: true, table: true }],
      }),
    )
    .withPanel(
      panel(
        new BarGauge()
          .unit(unit)
          .decimals(2)
          .orientation(VizOrientation.Horizontal)
          .displayMode(BarGaugeDisplayMode.Gradient)
          .reduceOptions(lastValue()),
        {
          title: "Top 10 clusters by savings",
          description:
            "The ten virtual clusters or namespaces that saved most in the dashboard's time range.",
          width: 12,
          height: 10,
          queries: [{ expr: q.topTargets, instant: true, legend: "{{namespace}}/{{name}}" }],
        },
      ),
    )
    .withPanel(
      panel(
        new BarGauge()
          .unit(unit)
          .decimals(2)
          .orientation(VizOrientation.Horizontal)
          .displayMode(BarGaugeDisplayMode.Basic)
          .reduceOptions(lastValue()),
        {
          title: "Savings by host cluster",
          description:
            "For fleets: money saved per host cluster (the `cluster` external label) in the dashboard's time range.",
          width: 8,
          height: 8,
          queries: [{ expr: q.savedByCluster, instant: true, legend: "{{cluster}}" }],
        },
      ),
    )
    .withPanel(
      panel(new TimeSeries().unit(`${unit}`).decimals(4), {
        title: `Savings per hour (${options.currency}/h)`,
        description:
          "How much sleeping saves per hour over time (5-minute average, recording rule slumber_target:estimated_savings:rate5m); nights and weekends show as plateaus.",
        width: 16,
        height: 8,
        queries: [{ expr: q.savingsPerHour, legend: "saved per hour" }],
      }),
    );
}
