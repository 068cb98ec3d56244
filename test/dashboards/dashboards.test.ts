// The committed dashboard JSON is exactly what dashboards/*.ts generates, and every panel is one a budget
// owner or on-call engineer can trust: a description, the datasource variable, the team/cluster filters.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULT_OPTIONS, JSON_DIR, renderDashboards } from "../../dashboards/generate.ts";
import { DATASOURCE } from "../../dashboards/panels.ts";

interface Target {
  expr: string;
  refId: string;
  datasource: { uid: string };
}
interface Panel {
  type: string;
  title: string;
  description?: string;
  datasource?: { uid: string };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: Target[];
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: {
    list: Array<{ name: string; type: string; multi?: boolean; includeAll?: boolean; allValue?: string }>;
  };
}

const generated = renderDashboards();
const dashboards = Object.entries(generated).map(
  ([file, text]) => [file, JSON.parse(text) as Dashboard] as const,
);

describe("committed dashboards", () => {
  it("are exactly what `npm run dashboards` generates (run it after changing dashboards/*.ts)", () => {
    const committed = readdirSync(JSON_DIR)
      .filter((name) => name.endsWith(".json"))
      .sort();
    expect(committed).toEqual(Object.keys(generated).sort());
    for (const [file, text] of Object.entries(generated)) {
      expect(readFileSync(join(JSON_DIR, file), "utf8"), `${file} is stale: run npm run dashboards`).toBe(
        text,
      );
    }
  });
});

describe.each(dashboards)("%s", (_file, dashboard) => {
  it("has the datasource, cluster, namespace and team variables, multi-value with All as .*", () => {
    const variables = dashboard.templating.list;
    expect(variables.map((v) => v.name)).toEqual(["datasource", "cluster", "namespace", "team"]);
    expect(variables[0]?.type).toBe("datasource");
    for (const variable of variables.slice(1)) {
      expect(variable).toMatchObject({ type: "query", multi: true, includeAll: true, allValue: ".*" });
    }
  });

  it("gives every panel a description and every query the datasource variable", () => {
    for (const panel of dashboard.panels) {
      expect(panel.description?.length ?? 0, `${panel.title} has no real description`).toBeGreaterThan(40);
      if (panel.type === "text") continue;
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) {
        expect(target.datasource.uid, panel.title).toBe(DATASOURCE.uid);
        expect(target.expr, panel.title).not.toBe("");
      }
    }
  });

  it("filters target series by the variables with =~, so multi-value selections work", () => {
    for (const target of dashboard.panels.flatMap((p) => p.targets ?? [])) {
      expect(target.expr).not.toMatch(/(cluster|namespace|team)="\$/);
      if (/slumber_target_(asleep|info|hourly_cost)|slumber_estimated_savings_total/.test(target.expr)) {
        expect(target.expr).toContain('namespace=~"$namespace"');
        expect(target.expr).toContain('cluster=~"$cluster"');
      }
    }
  });
});

describe("finance dashboard", () => {
  const finance = dashboards.find(([file]) => file === "slumber-finance.json")![1];
  const titles = finance.panels.map((p) => p.title);

  it("answers the budget owner's questions", () => {
    for (const title of [
      "Saved this month",
      "Saved last month",
      "Share of hours asleep",
      "Cost avoided against always-on",
      "Savings by team",
      "Savings by team (bars)",
      "Savings by virtual cluster and namespace",
      "Top 10 clusters by savings",
      "Prices in effect",
      "The cost model",
    ]) {
      expect(titles).toContain(title);
    }
    expect(titles.some((t) => /Projected monthly.*730 h/.test(t))).toBe(true);
  });

  it("joins savings on slumber_target_info for the team filter and counts restarts with increase()", () => {
    const saved = finance.panels.find((p) => p.title === "Saved this month")!.targets![0]!.expr;
    expect(saved).toContain("increase(slumber_estimated_savings_total{");
    expect(saved).toContain('team=~"$team"');
    expect(saved).toContain('currency="USD"');
    expect(saved).toContain("group_left (team)");
  });

  it("chooses the currency and the team label at generation", () => {
    const eur = JSON.parse(
      renderDashboards({ currency: "EUR", teamLabel: "cost_center" })["slumber-finance.json"]!,
    ) as Dashboard;
    const saved = eur.panels.find((p) => p.title === "Saved this month")!;
    expect(saved.fieldConfig?.defaults?.unit).toBe("currencyEUR");
    expect(saved.targets![0]!.expr).toContain('currency="EUR"');
    expect(saved.targets![0]!.expr).toContain('cost_center=~"$team"');
    const usd = finance.panels.find((p) => p.title === "Saved this month")!;
    expect(usd.fieldConfig?.defaults?.unit).toBe("currencyUSD");
    expect(DEFAULT_OPTIONS).toEqual({ currency: "USD", teamLabel: "team" });
  });

  it("rejects a currency or team label that would make broken queries", () => {
    expect(() => renderDashboards({ currency: "usd$", teamLabel: "team" })).toThrow(/--currency/);
    expect(() => renderDashboards({ currency: "USD", teamLabel: "cost-center" })).toThrow(/--team-label/);
  });
});
