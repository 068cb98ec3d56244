// `npm run dashboards [-- --currency EUR --team-label team --out DIR]`: writes the dashboards' JSON.
// The committed files in dashboards/json/ are generated with the defaults; a unit test fails when they
// differ from what this code generates.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type DashboardOptions, financeDashboard } from "./finance.ts";
import { operationsDashboard } from "./operations.ts";

export const DEFAULT_OPTIONS: DashboardOptions = { currency: "USD", teamLabel: "team" };
export const JSON_DIR = join(import.meta.dirname, "json");

/** File name → dashboard JSON text (stable: 2-space indent, trailing newline). */
export function renderDashboards(options: DashboardOptions = DEFAULT_OPTIONS): Record<string, string> {
  if (!/^[A-Z]{3}$/.test(options.currency)) {
    throw new Error(`--currency: "${options.currency}" is not an ISO 4217 code in capitals (USD, EUR)`);
  }
  if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(options.teamLabel)) {
    throw new Error(
      `--team-label: "${options.teamLabel}" is not a Prometheus label name (cost-center is cost_center)`,
    );
  }
  const text = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  return {
    "slumber-finance.json": text(financeDashboard(options).build()),
    "slumber-operations.json": text(operationsDashboard(options).build()),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      currency: { type: "string", default: DEFAULT_OPTIONS.currency },
      "team-label": { type: "string", default: DEFAULT_OPTIONS.teamLabel },
      out: { type: "string", default: JSON_DIR },
    },
  });
  try {
    const files = renderDashboards({ currency: values.currency, teamLabel: values["team-label"] });
    mkdirSync(values.out, { recursive: true });
    for (const [name, json] of Object.entries(files)) {
      writeFileSync(join(values.out, name), json);
      console.log(`wrote ${join(values.out, name)}`);
    }
  } catch (error) {
    console.error(`dashboards: ${(error as Error).message}`);
    process.exitCode = 2;
  }
}
