// Shared pieces of both dashboards: the datasource, the cluster/namespace/team variables, and panel helpers
// that refuse a panel without a description.
import type * as cog from "@grafana/grafana-foundation-sdk/cog";
import {
  type DashboardBuilder,
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  VariableRefresh,
  VariableSort,
} from "@grafana/grafana-foundation-sdk/dashboard";
import { DataqueryBuilder, PromQueryFormat } from "@grafana/grafana-foundation-sdk/prometheus";

/** Every query goes to the data source the viewer picks. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template
export const DATASOURCE = { type: "prometheus", uid: "${datasource}" };

/** A query variable over label values, multi-value, with All meaning `.*` (so `=~` matches any value). */
function labelVariable(
  name: string,
  label: string,
  query: string,
  description: string,
): QueryVariableBuilder {
  return new QueryVariableBuilder(name)
    .label(label)
    .description(description)
    .datasource(DATASOURCE)
    .query(query)
    .definition(query)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .allValue(".*")
    .current({ selected: true, text: "All", value: "$__all" });
}

/** The datasource variable, then cluster → namespace → team, each narrowing the next. */
export function withVariables(dashboard: DashboardBuilder, teamLabel: string): DashboardBuilder {
  return dashboard
    .withVariable(
      new DatasourceVariableBuilder("datasource")
        .label("Data source")
        .description("The Prometheus (or Thanos/Mimir) that scrapes the Slumber agents")
        .type("prometheus"),
    )
    .withVariable(
      labelVariable(
        "cluster",
        "Cluster",
        "label_values(slumber_target_asleep, cluster)",
        "Host clusters, from the `cluster` external label of a fleet's Prometheus; empty with a single Prometheus",
      ),
    )
    .withVariable(
      labelVariable(
        "namespace",
        "Namespace",
        'label_values(slumber_target_asleep{cluster=~"$cluster"}, namespace)',
        "Host namespace of a virtual cluster, or the namespace target itself",
      ),
    )
    .withVariable(
      labelVariable(
        "team",
        "Team",
        `label_values(slumber_target_info{cluster=~"$cluster", namespace=~"$namespace"}, ${teamLabel})`,
        `Value of the \`${teamLabel}\` cost label (slumber run --cost-labels) on slumber_target_info`,
      ),
    );
}

export interface QuerySpec {
  expr: string;
  legend?: string;
  /** Instant queries give one number per series (stats, tables, bar gauges); range queries draw lines. */
  instant?: boolean;
  table?: boolean;
}

export function query(
  { expr, legend, instant = false, table = false }: QuerySpec,
  refId: string,
): DataqueryBuilder {
  const builder = new DataqueryBuilder().datasource(DATASOURCE).expr(expr).refId(refId);
  if (legend !== undefined) builder.legendFormat(legend);
  if (instant) builder.instant();
  else builder.range();
  if (table) builder.format(PromQueryFormat.Table);
  return builder;
}

/** The common shape of every panel builder: title, description, size, queries. */
interface PanelLike<T> extends cog.Builder<T> {
  title(title: string): this;
  description(description: string): this;
  span(span: number): this;
  height(height: number): this;
  datasource(datasource: { type: string; uid: string }): this;
  withTarget(target: cog.Builder<cog.Dataquery>): this;
}

/** Fills a panel's common fields; a panel without a description is a mistake, so it is required. */
export function panel<T, P extends PanelLike<T>>(
  builder: P,
  spec: { title: string; description: string; width: number; height: number; queries: QuerySpec[] },
): P {
  if (spec.description.trim() === "") throw new Error(`panel "${spec.title}" needs a description`);
  builder
    .title(spec.title)
    .description(spec.description)
    .span(spec.width)
    .height(spec.height)
    .datasource(DATASOURCE);
  spec.queries.forEach((q, index) => {
    builder.withTarget(query(q, String.fromCharCode(65 + index)));
  });
  return builder;
}
