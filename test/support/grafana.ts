// What Grafana does to a dashboard's PromQL before Prometheus sees it, for tests that evaluate the committed
// dashboards: the built-in interval/range variables and multi-value template variables (`(a|b)`, All as the
// variable's allValue). Also reads every query out of the committed JSON.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface GrafanaContext {
  /** Dashboard (or panel) time range, seconds. */
  rangeSeconds: number;
  /** $__interval: the range divided by the panel's data points, at least the scrape interval. */
  intervalSeconds: number;
  /** The datasource's scrape interval (Grafana's "Scrape interval" setting). */
  scrapeIntervalSeconds: number;
  /** Selected values per template variable; "All" selects the variable's allValue. */
  selections?: Record<string, string[] | "All">;
}

export interface DashboardQuery {
  file: string;
  panel: string;
  refId: string;
  expr: string;
  instant: boolean;
}

interface TemplateVariable {
  name: string;
  type: string;
  allValue?: string;
}

interface DashboardJson {
  panels?: Array<{
    title: string;
    type: string;
    targets?: Array<{ expr?: string; refId: string; instant?: boolean }>;
  }>;
  templating?: { list?: TemplateVariable[] };
}

/**
 * Grafana's prometheusSpecialRegexEscape: a regex metacharacter gets a backslash, written doubled because
 * the value lands inside a PromQL double-quoted string (`eu.1` → `eu\\.1` in the query text).
 */
const escapeRegex = (value: string): string =>
  value.replace(/\\/g, "\\\\\\\\").replace(/[$^*{}[\]'+?.()|]/g, "\\\\$&");

/** Substitutes Grafana's variables in `expr` as its Prometheus datasource does. */
export function substituteVariables(
  expr: string,
  variables: readonly TemplateVariable[],
  context: GrafanaContext,
): string {
  const interval = Math.max(context.intervalSeconds, context.scrapeIntervalSeconds);
  const rateInterval = Math.max(interval + context.scrapeIntervalSeconds, 4 * context.scrapeIntervalSeconds);
  const builtIn: Record<string, string> = {
    __rate_interval: `${rateInterval}s`,
    __rate_interval_ms: String(rateInterval * 1000),
    __interval: `${interval}s`,
    __interval_ms: String(interval * 1000),
    __range: `${context.rangeSeconds}s`,
    __range_s: String(context.rangeSeconds),
    __range_ms: String(context.rangeSeconds * 1000),
  };
  const byName = new Map(variables.map((v) => [v.name, v]));
  return expr.replace(
    /\$\{(\w+)(?::\w+)?\}|\$(\w+)/g,
    (whole, braced: string | undefined, bare: string | undefined) => {
      const name = (braced ?? bare)!;
      if (name in builtIn) return builtIn[name]!;
      const variable = byName.get(name);
      if (!variable) return whole;
      const selection = context.selections?.[name] ?? "All";
      if (selection === "All") return variable.allValue ?? ".*";
      // Grafana's Prometheus datasource regex-escapes values; several become a (a|b) alternation.
      const escaped = selection.map(escapeRegex);
      return escaped.length === 1 ? escaped[0]! : `(${escaped.join("|")})`;
    },
  );
}

/** Every query of every committed dashboard JSON under `dir` (dashboards/**), with its variables. */
export function dashboardQueries(dir: string): Array<DashboardQuery & { variables: TemplateVariable[] }> {
  const files = readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".json"));
  return files.sort().flatMap((file) => {
    const dashboard = JSON.parse(readFileSync(join(dir, file), "utf8")) as DashboardJson;
    const variables = dashboard.templating?.list ?? [];
    return (dashboard.panels ?? []).flatMap((panel) =>
      (panel.targets ?? [])
        .filter((target) => (target.expr ?? "") !== "")
        .map((target) => ({
          file,
          panel: panel.title,
          refId: target.refId,
          expr: target.expr!,
          instant: target.instant === true,
          variables,
        })),
    );
  });
}
