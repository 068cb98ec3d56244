// The dashboard the on-call engineer reads: what is asleep, what changed and why, how long wakes take, what
// the proxy did, which objects have policy errors, and whether the agent itself is healthy.
import { ReduceDataOptionsBuilder } from "@grafana/grafana-foundation-sdk/common";
import { DashboardBuilder } from "@grafana/grafana-foundation-sdk/dashboard";
import { PanelBuilder as Stat } from "@grafana/grafana-foundation-sdk/stat";
import { PanelBuilder as Table } from "@grafana/grafana-foundation-sdk/table";
import { PanelBuilder as TimeSeries } from "@grafana/grafana-foundation-sdk/timeseries";
import type { DashboardOptions } from "./finance.ts";
import { panel, withVariables } from "./panels.ts";
import { queries } from "./queries.ts";

const lastValue = () => new ReduceDataOptionsBuilder().calcs(["lastNotNull"]).values(false);

export function operationsDashboard(options: DashboardOptions): DashboardBuilder {
  const q = queries(options);
  const dashboard = withVariables(
    new DashboardBuilder("Slumber / Operations")
      .uid("slumber-operations")
      .description("State, transitions, wakes, proxy, policy errors and the health of the Slumber agents")
      .tags(["slumber", "operations"])
      .time({ from: "now-24h", to: "now" })
      .refresh("1m")
      .timezone("browser"),
    options.teamLabel,
  );
  return dashboard
    .withPanel(
      panel(new Stat().reduceOptions(lastValue()), {
        title: "Agent up",
        description:
          "1 for each scrape target that served Slumber metrics in the last day and answers now, 0 when Prometheus cannot scrape it.",
        width: 6,
        height: 5,
        queries: [{ expr: q.agentUp, instant: true, legend: "{{cluster}} {{instance}}" }],
      }),
    )
    .withPanel(
      panel(new Stat().reduceOptions(lastValue()), {
        title: "Wakes in flight",
        description:
          "Targets woken and not ready yet (slumber_target_waking). One that stays here over 5 minutes raises SlumberWakeSlowOrFailed.",
        width: 6,
        height: 5,
        queries: [{ expr: q.wakesInFlight, instant: true }],
      }),
    )
    .withPanel(
      panel(new Stat().unit("s").decimals(1).reduceOptions(lastValue()), {
        title: "Wake duration p50 / p95",
        description:
          "From the wake decision to the control plane (or every workload) being ready, for wakes completed in the dashboard's time range.",
        width: 12,
        height: 5,
        queries: [
          { expr: q.wakeDurationQuantile(0.5), instant: true, legend: "p50" },
          { expr: q.wakeDurationQuantile(0.95), instant: true, legend: "p95" },
        ],
      }),
    )
    .withPanel(
      panel(new TimeSeries(), {
        title: "Targets asleep and awake",
        description:
          "Managed targets asleep and awake over time, for the selected clusters, namespaces and teams.",
        width: 12,
        height: 8,
        queries: [
          { expr: q.asleepTargets, legend: "asleep" },
          { expr: q.awakeTargets, legend: "awake" },
        ],
      }),
    )
    .withPanel(
      panel(new TimeSeries().decimals(1), {
        title: "Transitions per hour by reason",
        description:
          "Sleeps (schedule, inactivity, forced, manual) and wakes (schedule, activity, manual, forced, unmanaged), per hour.",
        width: 12,
        height: 8,
        queries: [{ expr: q.transitionsByReason, legend: "{{to}} ({{reason}})" }],
      }),
    )
    .withPanel(
      panel(new Table(), {
        title: "Policy errors",
        description:
          "Objects whose Slumber settings do not parse, by kind, namespace and name; they are left exactly as they are until fixed (kubectl describe shows the Event).",
        width: 12,
        height: 8,
        queries: [{ expr: q.policyErrors, instant: true, table: true }],
      }),
    )
    .withPanel(
      panel(new Table(), {
        title: "Asleep while the policy says awake",
        description:
          "Targets asleep although their schedule, inactivity and force settings want them awake: a wake that is not happening.",
        width: 12,
        height: 8,
        queries: [{ expr: q.asleepAgainstPolicy, instant: true, table: true }],
      }),
    )
    .withPanel(
      panel(new TimeSeries().unit("reqps"), {
        title: "Wake proxy requests by outcome",
        description:
          "Requests through the wake proxy per second: forwarded, held while waking, timed out, rejected.",
        width: 12,
        height: 8,
        queries: [{ expr: q.proxyOutcomes, legend: "{{outcome}}" }],
      }),
    )
    .withPanel(
      panel(new TimeSeries(), {
        title: "Requests held by the wake proxy",
        description:
          "Requests waiting for a virtual cluster to wake, per cluster. Past --max-held (1000) the proxy answers 503 with Retry-After; a cluster that stays here longer than --wake-timeout is not waking.",
        width: 12,
        height: 8,
        queries: [{ expr: q.proxyHeld, legend: "{{namespace}}/{{name}}" }],
      }),
    )
    .withPanel(
      panel(new TimeSeries().unit("s"), {
        title: "Reconcile pass duration p50 / p95",
        description: "How long one full pass over every target takes, per agent.",
        width: 12,
        height: 8,
        queries: [
          { expr: q.reconcileQuantile(0.5), legend: "p50 {{cluster}}" },
          { expr: q.reconcileQuantile(0.95), legend: "p95 {{cluster}}" },
        ],
      }),
    )
    .withPanel(
      panel(new TimeSeries().decimals(2), {
        title: "API errors per minute",
        description:
          "Failed calls to the Kubernetes API server by operation and HTTP status (0: no response); Slumber retries them on the next pass.",
        width: 12,
        height: 8,
        queries: [{ expr: q.apiErrors, legend: "{{operation}} {{code}}" }],
      }),
    );
}
