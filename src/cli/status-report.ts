// `slumber status --by LABEL` (totals per value of a --cost-labels key) and `-o csv`, for budget owners'
// spreadsheets. The per-target table and JSON live in status.ts.
import { formatUtc } from "../policy/zone.js";
import type { TargetView } from "../targets/types.js";

/** Rows of targets that lack the label are grouped under this value. */
export const NO_LABEL_VALUE = "(none)";

export interface LabelTotal {
  /** The label's value, or NO_LABEL_VALUE. */
  value: string;
  currency: string;
  targets: number;
  asleep: number;
  /** Sum of the targets' hourly cost while awake (asleep ones at their snapshot). */
  hourlyCost: number;
  /** Hourly cost of the targets asleep now: what sleeping saves per hour at this moment. */
  savingPerHour: number;
  savedSoFar: number;
}

/** Totals per value of `labelKey` (and currency), sorted by money saved, most first. */
export function totalsByLabel(views: readonly TargetView[], labelKey: string): LabelTotal[] {
  const totals = new Map<string, LabelTotal>();
  for (const view of views) {
    if (view.state === "unmanaged") continue;
    const value = view.costLabels?.[labelKey] ?? NO_LABEL_VALUE;
    const key = JSON.stringify([value, view.currency]);
    const total = totals.get(key) ?? {
      value,
      currency: view.currency,
      targets: 0,
      asleep: 0,
      hourlyCost: 0,
      savingPerHour: 0,
      savedSoFar: 0,
    };
    total.targets++;
    total.hourlyCost += view.hourlyCost;
    total.savedSoFar += view.savedSoFar;
    if (view.state === "asleep") {
      total.asleep++;
      total.savingPerHour += view.hourlyCost;
    }
    totals.set(key, total);
  }
  return [...totals.values()].sort((a, b) => b.savedSoFar - a.savedSoFar || a.value.localeCompare(b.value));
}

/** Columns padded to their widest cell, three spaces apart; the last column is not padded. */
export function alignedTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
        .join("   ")
        .trimEnd(),
    )
    .join("\n")
    .concat("\n");
}

/** `status --by team`: one row per label value. */
export function formatTotalsTable(totals: readonly LabelTotal[], labelKey: string): string {
  if (totals.length === 0) return "No managed targets found.\n";
  const money = (amount: number, currency: string, decimals: number) =>
    `${amount.toFixed(decimals)} ${currency}`;
  return alignedTable([
    [labelKey.toUpperCase(), "TARGETS", "ASLEEP", "COST/H", "SAVING/H", "SAVED"],
    ...totals.map((t) => [
      t.value,
      String(t.targets),
      String(t.asleep),
      money(t.hourlyCost, t.currency, 4),
      money(t.savingPerHour, t.currency, 4),
      money(t.savedSoFar, t.currency, 2),
    ]),
  ]);
}

/** RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled. */
const csvField = (value: string | number | null): string => {
  const text = value === null ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};

const csv = (rows: Array<Array<string | number | null>>): string =>
  rows
    .map((row) => row.map(csvField).join(","))
    .join("\r\n")
    .concat("\r\n");

/** `status --by team -o csv`. */
export function formatTotalsCsv(totals: readonly LabelTotal[], labelKey: string): string {
  return csv([
    [labelKey, "targets", "asleep", "hourly_cost", "saving_per_hour", "saved_so_far", "currency"],
    ...totals.map((t) => [
      t.value,
      t.targets,
      t.asleep,
      t.hourlyCost,
      t.savingPerHour,
      t.savedSoFar,
      t.currency,
    ]),
  ]);
}

/** `status -o csv`: one row per target, full precision, times RFC 3339 UTC, then each cost label. */
export function formatStatusCsv(views: readonly TargetView[], costLabelKeys: readonly string[]): string {
  return csv([
    [
      "kind",
      "namespace",
      "name",
      "state",
      "desired",
      "reason",
      "since",
      "next_state",
      "next_at",
      "hourly_cost",
      "saved_so_far",
      "currency",
      "policy_errors",
      ...costLabelKeys,
    ],
    ...views.map((view) => [
      view.kind,
      view.namespace,
      view.name,
      view.state,
      view.desired,
      view.reason,
      view.since === null ? null : formatUtc(view.since),
      view.next?.state ?? null,
      view.next ? formatUtc(view.next.at) : null,
      view.hourlyCost,
      view.savedSoFar,
      view.currency,
      view.policyErrors.length,
      ...costLabelKeys.map((key) => view.costLabels?.[key] ?? null),
    ]),
  ]);
}
