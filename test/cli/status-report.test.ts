import { describe, expect, it } from "vitest";
import { formatStatus } from "../../src/cli/status.js";
import { formatTotalsCsv, formatTotalsTable, totalsByLabel } from "../../src/cli/status-report.js";
import type { TargetView } from "../../src/targets/types.js";

const NOW = Date.parse("2026-03-09T08:00:00Z");

function view(name: string, overrides: Partial<TargetView>): TargetView {
  return {
    kind: "vcluster",
    namespace: `vc-${name}`,
    name,
    state: "awake",
    desired: "awake",
    reason: "in awake-hours",
    since: NOW - 3_600_000,
    next: null,
    hourlyCost: 0.01,
    currency: "USD",
    savedSoFar: 0,
    policyErrors: [],
    costLabels: {},
    ...overrides,
  };
}

const views = [
  view("a", {
    state: "asleep",
    desired: "asleep",
    hourlyCost: 0.5,
    savedSoFar: 30.5,
    costLabels: { team: "payments" },
  }),
  view("b", { hourlyCost: 0.25, savedSoFar: 4, costLabels: { team: "payments", "cost-center": "cc-1" } }),
  view("c", {
    state: "asleep",
    desired: "asleep",
    hourlyCost: 1,
    savedSoFar: 61,
    costLabels: { team: "search" },
  }),
  view("d", { hourlyCost: 0.1, savedSoFar: 0.5 }),
  view("e", { state: "unmanaged", desired: "unmanaged", hourlyCost: 9, savedSoFar: 0 }),
];

describe("slumber status --by", () => {
  it("totals managed targets per label value, most saved first; targets without it under (none)", () => {
    expect(totalsByLabel(views, "team")).toEqual([
      {
        value: "search",
        currency: "USD",
        targets: 1,
        asleep: 1,
        hourlyCost: 1,
        savingPerHour: 1,
        savedSoFar: 61,
      },
      {
        value: "payments",
        currency: "USD",
        targets: 2,
        asleep: 1,
        hourlyCost: 0.75,
        savingPerHour: 0.5,
        savedSoFar: 34.5,
      },
      {
        value: "(none)",
        currency: "USD",
        targets: 1,
        asleep: 0,
        hourlyCost: 0.1,
        savingPerHour: 0,
        savedSoFar: 0.5,
      },
    ]);
  });

  it("prints a table and RFC 4180 CSV", () => {
    const totals = totalsByLabel(views, "team");
    expect(formatTotalsTable(totals, "team")).toBe(
      [
        "TEAM       TARGETS   ASLEEP   COST/H       SAVING/H     SAVED",
        "search     1         1        1.0000 USD   1.0000 USD   61.00 USD",
        "payments   2         1        0.7500 USD   0.5000 USD   34.50 USD",
        "(none)     1         0        0.1000 USD   0.0000 USD   0.50 USD",
        "",
      ].join("\n"),
    );
    expect(formatTotalsCsv(totals, "team")).toBe(
      [
        "team,targets,asleep,hourly_cost,saving_per_hour,saved_so_far,currency",
        "search,1,1,1,1,61,USD",
        "payments,2,1,0.75,0.5,34.5,USD",
        "(none),1,0,0.1,0,0.5,USD",
        "",
      ].join("\r\n"),
    );
  });
});

describe("slumber status -o csv", () => {
  it("one row per target with full precision, UTC times, quoted reasons and the cost labels", () => {
    const csv = formatStatus(
      [view("b", { reason: 'used "now", idle 1h', costLabels: { team: "payments", "cost-center": "cc-1" } })],
      "csv",
      NOW,
      ["team", "cost-center"],
    );
    expect(csv).toBe(
      [
        "kind,namespace,name,state,desired,reason,since,next_state,next_at,hourly_cost,saved_so_far,currency,policy_errors,team,cost-center",
        'vcluster,vc-b,b,awake,awake,"used ""now"", idle 1h",2026-03-09T07:00:00Z,,,0.01,0,USD,0,payments,cc-1',
        "",
      ].join("\r\n"),
    );
  });
});
