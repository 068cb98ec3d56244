// deploy/prometheus: `promtool check rules` and `promtool test rules` (its unit tests with series and
// expected alerts), and every dashboard query parsed by promtool with Grafana's variables substituted.
// These tests need promtool (Debian's `prometheus` package, which .ci/run installs); without it they fail
// and say so, rather than pass without checking anything.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml, stringify } from "yaml";
import { dashboardQueries, substituteVariables } from "../support/grafana.js";

const root = resolve(import.meta.dirname, "../..");
const rulesFile = join(root, "deploy/prometheus/slumber-rules.yaml");
const testsDir = join(root, "deploy/prometheus/tests");

function promtool(...args: string[]): { code: number | null; output: string } {
  const result = spawnSync("promtool", args, { encoding: "utf8", cwd: root });
  if (result.error) {
    throw new Error(
      `cannot run promtool (${result.error.message}): install Debian's prometheus package (apt-get install prometheus); .ci/run does`,
    );
  }
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

describe("deploy/prometheus rules", () => {
  it("pass promtool check rules", () => {
    const { code, output } = promtool("check", "rules", rulesFile);
    expect(output).toContain("SUCCESS");
    expect(code, output).toBe(0);
  });

  it("pass their promtool unit tests (series in, expected alerts and recorded values out)", () => {
    const files = readdirSync(testsDir).filter((f) => f.endsWith(".yaml"));
    expect(files.length).toBeGreaterThan(0);
    const { code, output } = promtool("test", "rules", ...files.map((f) => join(testsDir, f)));
    expect(code, output).toBe(0);
  });

  it("define every alert the issue asks for, each with a summary and a severity", () => {
    const rules = (
      parseYaml(readFileSync(rulesFile, "utf8")) as {
        groups: Array<{ rules: Array<Record<string, unknown>> }>;
      }
    ).groups.flatMap((g) => g.rules);
    const alerts = rules.filter((r) => r.alert);
    expect(alerts.map((a) => a.alert).sort()).toEqual(
      [
        "SlumberAgentDown",
        "SlumberAsleepWhenPolicySaysAwake",
        "SlumberNoReconcile",
        "SlumberPolicyErrors",
        "SlumberWakeSlowOrFailed",
        "SlumberWakeTookOver5m",
      ].sort(),
    );
    for (const alert of alerts) {
      expect((alert.labels as Record<string, string>).severity).toMatch(/^(warning|critical)$/);
      expect((alert.annotations as Record<string, string>).summary).toBeTruthy();
    }
    // The recording rules the dashboards read exist.
    const recorded = new Set(rules.map((r) => r.record).filter(Boolean));
    const used = new Set(
      dashboardQueries(join(root, "dashboards")).flatMap((q) =>
        [...q.expr.matchAll(/\b(\w+:\w+:\w+)\b/g)].map((m) => m[1]),
      ),
    );
    expect(used.size).toBeGreaterThan(0);
    for (const name of used) expect(recorded, `${name} is used by a dashboard`).toContain(name);
  });
});

describe("dashboard queries", () => {
  it("all parse as PromQL once Grafana's variables are substituted (single, multi-value and All)", () => {
    const queries = dashboardQueries(join(root, "dashboards"));
    expect(queries.length).toBeGreaterThan(20);
    const contexts = [
      { rangeSeconds: 2_592_000, intervalSeconds: 3600, scrapeIntervalSeconds: 30 },
      {
        rangeSeconds: 3600,
        intervalSeconds: 15,
        scrapeIntervalSeconds: 15,
        selections: { cluster: ["eu-1", "us.east"], namespace: ["team-a"], team: ["payments", "search"] },
      },
    ];
    const rules = contexts.flatMap((context, c) =>
      queries.map((q, i) => {
        const expr = substituteVariables(q.expr, q.variables, context);
        expect(expr, `${q.file} ${q.panel}`).not.toMatch(/\$/);
        return { record: `dashboard:check_${c}_${i}:expr`, expr };
      }),
    );
    const dir = mkdtempSync(join(tmpdir(), "slumber-dashboards-"));
    const file = join(dir, "dashboard-queries.yaml");
    writeFileSync(file, stringify({ groups: [{ name: "dashboards", rules }] }));
    const { code, output } = promtool("check", "rules", file);
    expect(code, output).toBe(0);
  });

  it("substitute multi-value variables as Grafana does: (a|b), regex-escaped, All as .*", () => {
    const variables = [
      { name: "cluster", type: "query", allValue: ".*" },
      { name: "team", type: "query", allValue: ".*" },
    ];
    const context = { rangeSeconds: 600, intervalSeconds: 2, scrapeIntervalSeconds: 1 };
    expect(
      substituteVariables(
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's ${var} syntax under test
        'x{cluster=~"$cluster", team=~"${team}"}[$__rate_interval] [$__range] $__range_s',
        variables,
        {
          ...context,
          selections: { cluster: ["eu.1", "us-2"] },
        },
      ),
    ).toBe('x{cluster=~"(eu\\\\.1|us-2)", team=~".*"}[4s] [600s] 600');
  });
});
