import { formatDuration } from "../policy/duration.js";
import { formatUtc } from "../policy/zone.js";
import type { TargetView } from "../targets/types.js";
import { alignedTable, formatStatusCsv } from "./status-report.js";

const COLUMNS = ["KIND", "NAMESPACE/NAME", "STATE", "REASON", "SINCE", "NEXT", "COST/H", "SAVED"] as const;

/** `asleep`, or `asleep→awake` while a transition is in flight, `unmanaged` for targets left alone. */
function stateCell(view: TargetView): string {
  if (view.state === view.desired || view.desired === "unmanaged" || view.state === "unmanaged")
    return view.state;
  return `${view.state}→${view.desired}`;
}

const age = (since: number | null, now: number): string =>
  since === null ? "-" : `${formatDuration(Math.max(0, now - since))} ago`;

function nextCell(view: TargetView, now: number): string {
  if (view.next === null) return "-";
  const wait = view.next.at - now;
  return wait <= 0 ? `${view.next.state} now` : `${view.next.state} in ${formatDuration(wait)}`;
}

/** Money with enough decimals that a small vcluster's ~0.008/h does not print as 0.00. */
const money = (amount: number, currency: string, decimals: number): string =>
  `${amount.toFixed(decimals)} ${currency}`;

function reasonCell(view: TargetView): string {
  if (view.policyErrors.length === 0) return view.reason;
  return `${view.reason} (${view.policyErrors.length} policy error${view.policyErrors.length > 1 ? "s" : ""})`;
}

/** The `slumber status` table: one row per target, sorted by namespace and name, kubectl-style columns. */
export function formatStatusTable(views: readonly TargetView[], now: number): string {
  if (views.length === 0) return "No targets found.\n";
  const rows = [...views]
    .sort(
      (a, b) =>
        a.namespace.localeCompare(b.namespace) ||
        a.name.localeCompare(b.name) ||
        a.kind.localeCompare(b.kind),
    )
    .map((view) => [
      view.kind,
      `${view.namespace}/${view.name}`,
      stateCell(view),
      reasonCell(view),
      age(view.since, now),
      nextCell(view, now),
      money(view.hourlyCost, view.currency, 4),
      money(view.savedSoFar, view.currency, 2),
    ]);
  return alignedTable([[...COLUMNS], ...rows]);
}

/** `slumber status -o json`: times as RFC 3339 UTC, amounts as numbers, for scripts. */
export function formatStatusJson(views: readonly TargetView[]): string {
  const targets = views.map((view) => ({
    kind: view.kind,
    namespace: view.namespace,
    name: view.name,
    state: view.state,
    desired: view.desired,
    reason: view.reason,
    sleepReason: view.sleepReason ?? null,
    since: view.since === null ? null : formatUtc(view.since),
    next: view.next === null ? null : { state: view.next.state, at: formatUtc(view.next.at) },
    hourlyCost: view.hourlyCost,
    currency: view.currency,
    savedSoFar: view.savedSoFar,
    policyErrors: view.policyErrors,
    costLabels: view.costLabels ?? {},
    lastActivitySource: view.lastActivitySource ?? null,
  }));
  return `${JSON.stringify({ targets }, null, 2)}\n`;
}

export const STATUS_OUTPUTS = ["table", "json", "csv"] as const;
export type StatusOutput = (typeof STATUS_OUTPUTS)[number];

/** Renders views in the chosen output format; `costLabelKeys` become CSV columns. */
export function formatStatus(
  views: readonly TargetView[],
  output: StatusOutput,
  now: number,
  costLabelKeys: readonly string[] = [],
): string {
  if (output === "json") return formatStatusJson(views);
  if (output === "csv") return formatStatusCsv(views, costLabelKeys);
  return formatStatusTable(views, now);
}
