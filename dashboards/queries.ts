// PromQL of the dashboards, in one place so the finance and operations dashboards, the recording rules'
// tests and the e2e check speak the same language. Grafana substitutes $cluster, $namespace and $team
// (multi-value: `(a|b)`, All: `.*`), $__range and $__rate_interval before Prometheus sees them; no other
// built-in is used, so any tool that substitutes those two can evaluate every query.
//
// Counters (savings, time asleep, transitions) restart at 0 with the agent: every total is increase() or
// rate() per series, summed afterwards, so a restart costs nothing but the interval it was down.

export interface QueryOptions {
  /** ISO 4217 code of the savings series the dashboards show (the agent's --currency). */
  currency: string;
  /** Prometheus label on slumber_target_info that names the team (a sanitized --cost-labels key). */
  teamLabel: string;
}

/** The labels that name one target across agents and restarts (`cluster` is the fleet's external label). */
export const TARGET = "cluster, kind, namespace, name";

/** Matchers for the dashboard's cluster and namespace variables. */
export const SCOPE = 'cluster=~"$cluster", namespace=~"$namespace"';

export function queries({ currency, teamLabel }: QueryOptions) {
  const team = teamLabel;
  const money = `currency="${currency}", ${SCOPE}`;

  /** Targets of the selected teams now, one series each, carrying the team label (join side). */
  const teamsNow = `max by (${TARGET}, ${team}) (slumber_target_info{${SCOPE}, ${team}=~"$team"})`;
  /**
   * Targets of the selected teams at any time in `range`, so a cluster deleted this month still counts.
   * topk keeps one series per target if its team changed within the range.
   */
  const teamsIn = (range: string) =>
    `topk by (${TARGET}) (1, last_over_time(slumber_target_info{${SCOPE}, ${team}=~"$team"}[${range}]))`;

  /** Per target, the team label attached; drops targets outside the selected teams. */
  const joinTeamsIn = (perTarget: string, range: string) =>
    `(${perTarget}) * on (${TARGET}) group_left (${team}) ${teamsIn(range)}`;
  const joinTeamsNow = (perTarget: string) =>
    `(${perTarget}) * on (${TARGET}) group_left (${team}) ${teamsNow}`;

  /** Money saved per target in `range`: increase() per series copes with agent restarts. */
  const savedIn = (range: string) =>
    joinTeamsIn(`sum by (${TARGET}) (increase(slumber_estimated_savings_total{${money}}[${range}]))`, range);

  /**
   * Cost of running every target all the time in `range`: the agent's always-on counter (hourly cost ×
   * hours observed), over the same observed time as the savings, so the two compare.
   */
  const alwaysOnIn = (range: string) =>
    `sum(${joinTeamsIn(`sum by (${TARGET}) (increase(slumber_estimated_always_on_cost_total{${money}}[${range}]))`, range)})`;

  /**
   * Savings per second per target from a recording rule, or the same expression computed on the spot where
   * the rules of deploy/prometheus are not loaded (same value, more work for Prometheus).
   */
  const savingsRate = (record: string, window: string) =>
    `(sum by (${TARGET}) (${record}{${money}}) or sum by (${TARGET}) (rate(slumber_estimated_savings_total{${money}}[${window}])))`;

  return {
    teamLabel: team,
    /** Total saved in the panel's range (this month, last month: the panel's relative time sets it). */
    savedTotal: `sum(${savedIn("$__range")})`,
    /** Saved per team in the range. */
    savedByTeam: `sum by (${team}) (${savedIn("$__range")})`,
    /** Saved per target in the range, with its team and fleet cluster. */
    savedByTarget: `sum by (${TARGET}, ${team}) (${savedIn("$__range")})`,
    /** The ten targets that saved most in the range. */
    topTargets: `topk(10, sum by (${TARGET}) (${savedIn("$__range")}))`,
    /** Saved per fleet cluster (the `cluster` external label) in the range. */
    savedByCluster: `sum by (cluster) (${savedIn("$__range")})`,
    /** Savings per hour over time, from the recording rule (per-second rate × 3600). */
    savingsPerHour: `sum(${joinTeamsNow(savingsRate("slumber_target:estimated_savings:rate5m", "5m"))}) * 3600`,
    /** Projection: the last day's average savings per hour × 730 hours (OpenCost's month). */
    projectedMonthly: `sum(${joinTeamsNow(savingsRate("slumber_target:estimated_savings:rate1d", "1d"))}) * 3600 * 730`,
    /** Share of time asleep in the range, averaged over targets (each target's samples, asleep = 1). */
    shareAsleep: `avg(${joinTeamsIn(`max by (${TARGET}) (avg_over_time(slumber_target_asleep{${SCOPE}}[$__range]))`, "$__range")})`,
    /** What running every target around the clock would have cost in the range. */
    alwaysOnCost: alwaysOnIn("$__range"),
    /** Estimated actual cost: always-on minus what sleeping saved. */
    actualCost: `${alwaysOnIn("$__range")} - sum(${savedIn("$__range")})`,
    /** Share of the always-on cost that sleeping avoided. */
    avoidedShare: `sum(${savedIn("$__range")}) / ${alwaysOnIn("$__range")}`,
    /** Prices the agents use now, and where they came from (flags or OpenCost via Prometheus). */
    prices: `max by (cluster, resource, currency, source) (slumber_price_per_hour{cluster=~"$cluster"})`,

    // --- operations -------------------------------------------------------------------------------
    asleepTargets: `sum(${joinTeamsNow(`max by (${TARGET}) (slumber_target_asleep{${SCOPE}})`)}) or vector(0)`,
    awakeTargets: `count(${joinTeamsNow(`max by (${TARGET}) (slumber_target_asleep{${SCOPE}}) == 0`)}) or vector(0)`,
    /** Transitions per hour, by target state and reason. */
    transitionsByReason: `sum by (to, reason) (rate(slumber_transitions_total{${SCOPE}}[$__rate_interval])) * 3600`,
    wakeDurationQuantile: (q: number) =>
      `histogram_quantile(${q}, sum by (le) (increase(slumber_wake_duration_seconds_bucket{cluster=~"$cluster"}[$__range])))`,
    wakesInFlight: `sum(max by (${TARGET}) (slumber_target_waking{${SCOPE}}))`,
    /** Requests the wake proxy holds now for waking clusters (all agents; a proxy that stopped has none). */
    proxyHeld: `sum by (cluster, namespace, name) (slumber_proxy_held_requests{${SCOPE}}) > 0`,
    /** Requests per second through the wake proxy, by outcome. */
    proxyOutcomes: `sum by (outcome) (rate(slumber_proxy_requests_total{${SCOPE}}[$__rate_interval]))`,
    policyErrors: `max by (${TARGET}) (slumber_policy_errors{${SCOPE}}) > 0`,
    asleepAgainstPolicy: `max by (${TARGET}) (slumber_target_asleep{${SCOPE}}) == 1 and on (${TARGET}) max by (${TARGET}) (slumber_target_desired_asleep{${SCOPE}}) == 0`,
    reconcileQuantile: (q: number) =>
      `histogram_quantile(${q}, sum by (cluster, le) (rate(slumber_reconcile_duration_seconds_bucket{cluster=~"$cluster"}[$__rate_interval])))`,
    /** Failed API calls per minute, by operation and HTTP status (0: no response). */
    apiErrors: `sum by (cluster, operation, code) (rate(slumber_api_errors_total{cluster=~"$cluster"}[$__rate_interval])) * 60`,
    /** 1 per scrape target that exported Slumber's metrics in the last day: up, or 0 when down. */
    agentUp: `max by (cluster, job, instance) (up{cluster=~"$cluster"}) and on (cluster, job, instance) max by (cluster, job, instance) (last_over_time(slumber_reconcile_duration_seconds_count{cluster=~"$cluster"}[1d]))`,
  };
}

export type DashboardQueries = ReturnType<typeof queries>;
