import { describe, expect, it } from "vitest";
import { formatStatus, formatStatusJson, formatStatusTable } from "../../src/cli/status.js";
import type { TargetView } from "../../src/targets/types.js";

const NOW = Date.parse("2026-03-06T20:00:00Z");
const MIN = 60_000;

const base: Omit<TargetView, "kind" | "namespace" | "name"> = {
  state: "awake",
  desired: "awake",
  reason: "used 10m ago, idle 1h",
  since: NOW - 10 * MIN,
  next: { state: "asleep", at: NOW + 50 * MIN },
  hourlyCost: 0.0082784,
  currency: "USD",
  savedSoFar: 0,
  policyErrors: [],
};

const views: TargetView[] = [
  {
    ...base,
    kind: "vcluster",
    namespace: "vcluster-team-b",
    name: "team-b",
    state: "asleep",
    desired: "asleep",
    sleepReason: "schedule",
    reason: "outside awake-hours Mon-Fri 08:00-19:00",
    since: NOW - 61 * MIN,
    next: { state: "awake", at: NOW + 12 * 60 * MIN },
    hourlyCost: 1.25,
    savedSoFar: 12.3456,
  },
  { ...base, kind: "namespace", namespace: "shop-dev", name: "shop-dev" },
  {
    ...base,
    kind: "vcluster",
    namespace: "vcluster-team-a",
    name: "team-a",
    desired: "asleep",
    reason: "idle since 19:00",
    next: null,
    since: null,
    policyErrors: [{ key: "slumber.dev/awake-hours", value: "Mon-Fry", message: "bad day" }],
  },
];

describe("formatStatusTable", () => {
  it("prints aligned kubectl-style columns sorted by namespace and name", () => {
    expect(formatStatusTable(views, NOW)).toBe(
      [
        "KIND        NAMESPACE/NAME           STATE          REASON                                    SINCE      NEXT            COST/H       SAVED",
        "namespace   shop-dev/shop-dev        awake          used 10m ago, idle 1h                     10m ago    asleep in 50m   0.0083 USD   0.00 USD",
        "vcluster    vcluster-team-a/team-a   awake→asleep   idle since 19:00 (1 policy error)         -          -               0.0083 USD   0.00 USD",
        "vcluster    vcluster-team-b/team-b   asleep         outside awake-hours Mon-Fri 08:00-19:00   1h1m ago   awake in 12h    1.2500 USD   12.35 USD",
        "",
      ].join("\n"),
    );
  });

  it("says so when there are no targets", () => {
    expect(formatStatusTable([], NOW)).toBe("No targets found.\n");
  });
});

describe("formatStatusJson", () => {
  it("prints RFC 3339 UTC times and plain numbers", () => {
    const parsed = JSON.parse(formatStatusJson(views));
    expect(parsed.targets).toHaveLength(3);
    expect(parsed.targets[0]).toEqual({
      kind: "vcluster",
      namespace: "vcluster-team-b",
      name: "team-b",
      state: "asleep",
      desired: "asleep",
      reason: "outside awake-hours Mon-Fri 08:00-19:00",
      sleepReason: "schedule",
      since: "2026-03-06T18:59:00Z",
      next: { state: "awake", at: "2026-03-07T08:00:00Z" },
      hourlyCost: 1.25,
      currency: "USD",
      savedSoFar: 12.3456,
      policyErrors: [],
      costLabels: {},
      lastActivitySource: null,
    });
    expect(parsed.targets[2]).toMatchObject({ since: null, next: null, sleepReason: null });
    expect(parsed.targets[2].policyErrors).toEqual([
      { key: "slumber.dev/awake-hours", value: "Mon-Fry", message: "bad day" },
    ]);
  });

  it("is what formatStatus gives for -o json", () => {
    expect(formatStatus(views, "json", NOW)).toBe(formatStatusJson(views));
    expect(formatStatus(views, "table", NOW)).toBe(formatStatusTable(views, NOW));
  });
});
