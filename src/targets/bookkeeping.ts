// Annotations the targets keep beyond SPEC §4's list, and the arithmetic of "saved so far".
import { Annotations } from "../policy/annotations.js";
import { formatUtc } from "../policy/zone.js";

/** Keys only the sleep/wake steps write (defined with every other key in policy/annotations.ts). */
export const BookkeepingAnnotations = {
  /** Money not spent while asleep, summed over every finished sleep (decimal, agent currency). */
  savedTotal: Annotations.savedTotal,
  /** Seconds spent asleep, summed over every finished sleep. */
  asleepSecondsTotal: Annotations.asleepSecondsTotal,
  /** "snapshot" when `slumber.dev/hourly-cost` was written by a sleep (removed on wake); absent when it is the user's override. */
  hourlyCostSource: Annotations.hourlyCostSource,
  /** On a ScaledObject: Slumber wrote `autoscaling.keda.sh/paused-replicas` and removes it on wake. */
  kedaPausedBySlumber: Annotations.kedaPausedBySlumber,
  /** On a ScaledObject: the `paused-replicas` its owners had set before the sleep, put back on wake. */
  originalKedaPausedReplicas: Annotations.originalKedaPausedReplicas,
} as const;

/** RFC 3339, whole seconds, UTC: what every timestamp annotation holds. */
export const formatTimestamp = (ms: number): string => formatUtc(Math.floor(ms / 1000) * 1000);

/** RFC 3339 or Unix seconds (vcluster and vCluster Platform write both); null when absent or malformed. */
export function parseTimestamp(value: string | undefined): number | null {
  if (value === undefined || value === "") return null;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

const parseAmount = (value: string | undefined): number => {
  const n = Number(value);
  return value !== undefined && Number.isFinite(n) && n >= 0 ? n : 0;
};

/** The hourly cost recorded when the target went to sleep (snapshot or override). */
export function recordedHourlyCost(annotations: Readonly<Record<string, string>>): number {
  return parseAmount(annotations[Annotations.hourlyCostSnapshot]);
}

/**
 * The sleep-time record: sleeping-since, reason and the snapshot of the cost in effect, unless the
 * user's own `hourly-cost` annotation is there (same key: it stays and serves as the record).
 */
export function sleepRecord(
  annotations: Readonly<Record<string, string>>,
  now: number,
  reason: string,
  hourlyCost: number,
): Record<string, string> {
  const record: Record<string, string> = {
    [Annotations.sleepingSince]: formatTimestamp(now),
    [Annotations.sleepReason]: reason,
  };
  const hasOverride =
    annotations[Annotations.hourlyCost] !== undefined &&
    annotations[BookkeepingAnnotations.hourlyCostSource] !== "snapshot";
  if (!hasOverride) {
    record[Annotations.hourlyCostSnapshot] = hourlyCost.toFixed(6);
    record[BookkeepingAnnotations.hourlyCostSource] = "snapshot";
  }
  return record;
}

/** Saved money and time of the sleep in progress (0 when awake). */
export function currentSleepSavings(
  annotations: Readonly<Record<string, string>>,
  now: number,
): { seconds: number; saved: number } {
  const since = parseTimestamp(annotations[Annotations.sleepingSince]);
  if (since === null || now <= since) return { seconds: 0, saved: 0 };
  const seconds = (now - since) / 1000;
  return { seconds, saved: (recordedHourlyCost(annotations) * seconds) / 3600 };
}

/** Savings recorded over finished sleeps plus the current one. */
export function savedSoFar(annotations: Readonly<Record<string, string>>, now: number): number {
  return (
    parseAmount(annotations[BookkeepingAnnotations.savedTotal]) + currentSleepSavings(annotations, now).saved
  );
}

/**
 * The wake-time annotations: clears the sleep record and folds the finished sleep into the totals.
 * Written in the same patch that ends the sleep, so a sleep is never counted twice.
 */
export function wakeRecord(
  annotations: Readonly<Record<string, string>>,
  now: number,
): Record<string, string | null> {
  const { seconds, saved } = currentSleepSavings(annotations, now);
  const record: Record<string, string | null> = {
    [Annotations.sleepingSince]: null,
    [Annotations.sleepReason]: null,
    [Annotations.lastWake]: formatTimestamp(now),
    [BookkeepingAnnotations.savedTotal]: (
      parseAmount(annotations[BookkeepingAnnotations.savedTotal]) + saved
    ).toFixed(6),
    [BookkeepingAnnotations.asleepSecondsTotal]: String(
      Math.round(parseAmount(annotations[BookkeepingAnnotations.asleepSecondsTotal]) + seconds),
    ),
  };
  if (annotations[BookkeepingAnnotations.hourlyCostSource] === "snapshot") {
    record[Annotations.hourlyCostSnapshot] = null;
    record[BookkeepingAnnotations.hourlyCostSource] = null;
  }
  return record;
}

/** `slumber.dev/last-activity-source` values, as a reason names them. */
const ACTIVITY_SOURCES: Readonly<Record<string, string>> = {
  request: "a request through the wake proxy",
  session: "an exec/attach/port-forward session",
  workload: "a workload change",
};

/** The recorded source of the last activity (`request`, `session`, `workload`), or null when unknown. */
export function lastActivitySource(annotations: Readonly<Record<string, string>>): string | null {
  const source = annotations[Annotations.lastActivitySource];
  return source !== undefined && source in ACTIVITY_SOURCES ? source : null;
}

/** A decision's reason with the source of the last activity named ("last activity (a workload change) at ..."). */
export function reasonWithActivitySource(
  reason: string,
  annotations: Readonly<Record<string, string>>,
): string {
  const source = lastActivitySource(annotations);
  if (source === null) return reason;
  return reason.replace("last activity at", `last activity (${ACTIVITY_SOURCES[source]}) at`);
}
