// 5-field cron evaluated against local wall-clock time in a zone (SPEC §3.4).
// Own parser rather than node-cron's: node-cron exposes only validate()/schedule(), accepts a
// 6-field seconds form, and can neither answer "previous fire at or before t" nor apply the
// skipped/repeated-hour rules; cron-parser would be a second dependency with other DST rules.
import type { Parsed } from "./duration.js";
import { civilDateOf, localDayOf, localToInstant, weekdayOf } from "./zone.js";

export interface CronSchedule {
  expression: string;
  /** Sorted ascending. */
  minutes: number[];
  /** Sorted ascending. */
  hours: number[];
  /** Indexed 1–31. */
  daysOfMonth: boolean[];
  /** Indexed 1–12. */
  months: boolean[];
  /** Indexed 0–6, 0 = Sunday. */
  weekdays: boolean[];
  /** Vixie cron: when both day fields are restricted, a day matches if either does. */
  dayOfMonthRestricted: boolean;
  weekdayRestricted: boolean;
}

const MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

// A Map, not an object literal: user text such as "constructor" must not find Object's own members.
const MACROS: ReadonlyMap<string, string> = new Map([
  ["@yearly", "0 0 1 1 *"],
  ["@annually", "0 0 1 1 *"],
  ["@monthly", "0 0 1 * *"],
  ["@weekly", "0 0 * * 0"],
  ["@daily", "0 0 * * *"],
  ["@midnight", "0 0 * * *"],
  ["@hourly", "0 * * * *"],
]);

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** First name maps to this number (months start at 1). */
  nameBase?: number;
}

const FIELDS: FieldSpec[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTH_NAMES, nameBase: 1 },
  // 7 is accepted as Sunday, as in Vixie cron.
  { name: "day of week", min: 0, max: 7, names: WEEKDAY_NAMES, nameBase: 0 },
];

function parseValue(text: string, spec: FieldSpec): number | null {
  if (/^\d+$/.test(text)) return Number(text);
  const index = spec.names?.indexOf(text.toLowerCase()) ?? -1;
  return index >= 0 ? index + (spec.nameBase ?? 0) : null;
}

function parseField(text: string, spec: FieldSpec): Parsed<boolean[]> {
  const set = new Array<boolean>(spec.max + 1).fill(false);
  for (const item of text.split(",")) {
    const [rangeText, stepText, extra] = item.split("/");
    if (rangeText === undefined || rangeText === "" || extra !== undefined) {
      return { ok: false, message: `${spec.name} field "${text}": bad item "${item}"` };
    }
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0) {
        return { ok: false, message: `${spec.name} field "${text}": bad step "${stepText}"` };
      }
      step = Number(stepText);
    }
    let low: number;
    let high: number;
    if (rangeText === "*" || rangeText === "?") {
      low = spec.min;
      high = spec.max === 7 ? 6 : spec.max;
    } else {
      const bounds = rangeText.split("-");
      if (bounds.length > 2)
        return { ok: false, message: `${spec.name} field "${text}": bad range "${rangeText}"` };
      const first = parseValue(bounds[0]!, spec);
      const last = bounds.length === 2 ? parseValue(bounds[1]!, spec) : first;
      if (first === null || last === null) {
        return { ok: false, message: `${spec.name} field "${text}": "${rangeText}" is not a value` };
      }
      low = first;
      // `5/15` means 5, 20, 35, 50 as in Vixie cron.
      high = bounds.length === 1 && stepText !== undefined ? spec.max : last;
      if (low < spec.min || high > spec.max || low > high) {
        return {
          ok: false,
          message: `${spec.name} field "${text}": "${rangeText}" is outside ${spec.min}-${spec.max} or reversed`,
        };
      }
    }
    for (let value = low; value <= high; value += step) set[value] = true;
  }
  return { ok: true, value: set };
}

const indicesOf = (set: boolean[]): number[] => set.flatMap((on, index) => (on ? [index] : []));

export function parseCron(text: string): Parsed<CronSchedule> {
  const expression = text.trim();
  const expanded = MACROS.get(expression.toLowerCase()) ?? expression;
  const parts = expanded.split(/\s+/);
  if (parts.length !== 5) {
    return {
      ok: false,
      message: `"${expression}" has ${parts.length} fields; expected 5 (minute hour day-of-month month day-of-week)`,
    };
  }
  const sets: boolean[][] = [];
  for (const [index, spec] of FIELDS.entries()) {
    const parsed = parseField(parts[index]!, spec);
    if (!parsed.ok) return { ok: false, message: `"${expression}": ${parsed.message}` };
    sets.push(parsed.value);
  }
  const weekdays = sets[4]!.slice(0, 7);
  if (sets[4]![7]) weekdays[0] = true;
  const isStar = (field: string) => field.startsWith("*") || field.startsWith("?");
  return {
    ok: true,
    value: {
      expression,
      minutes: indicesOf(sets[0]!),
      hours: indicesOf(sets[1]!),
      daysOfMonth: sets[2]!,
      months: sets[3]!,
      weekdays,
      dayOfMonthRestricted: !isStar(parts[2]!),
      weekdayRestricted: !isStar(parts[4]!),
    },
  };
}

function dayMatches(cron: CronSchedule, day: number): boolean {
  const { month, dayOfMonth } = civilDateOf(day);
  if (!cron.months[month]) return false;
  const domMatch = cron.daysOfMonth[dayOfMonth] === true;
  const dowMatch = cron.weekdays[weekdayOf(day)] === true;
  if (cron.dayOfMonthRestricted && cron.weekdayRestricted) return domMatch || dowMatch;
  return domMatch && dowMatch;
}

/** How far back to look for the previous fire: covers a Feb-29-only schedule across a century year. */
const LOOKBACK_DAYS = 8 * 366 + 1;

/** Index of the first element for which `isAfter` holds, given it is monotone over `list`; length if none. */
function firstIndex(list: number[], isAfter: (value: number) => boolean): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (isAfter(list[mid]!)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

// Local times map to instants monotonically (a gap collapses to its end, a repeated hour takes its
// first occurrence), so within a day the hours and minutes can be binary-searched.

/** First fire strictly after `after`, or null if none at or before `limit`. */
export function cronNextAfter(cron: CronSchedule, zone: string, after: number, limit: number): number | null {
  const lastMinute = cron.minutes[cron.minutes.length - 1]!;
  const firstMinuteOfDay = cron.hours[0]! * 60 + cron.minutes[0]!;
  // A day earlier: a gap can push a fire of the previous local day past midnight.
  for (let day = localDayOf(zone, after) - 1; ; day++) {
    if (!dayMatches(cron, day)) {
      if (localToInstant(zone, day, 0) > limit) return null;
      continue;
    }
    if (localToInstant(zone, day, firstMinuteOfDay) > limit) return null;
    const h = firstIndex(cron.hours, (hour) => localToInstant(zone, day, hour * 60 + lastMinute) > after);
    if (h === cron.hours.length) continue;
    const hour = cron.hours[h]!;
    const m = firstIndex(cron.minutes, (minute) => localToInstant(zone, day, hour * 60 + minute) > after);
    const at = localToInstant(zone, day, hour * 60 + cron.minutes[m]!);
    return at <= limit ? at : null;
  }
}

/** Last fire at or before `at`, or null if none within LOOKBACK_DAYS. */
export function cronPreviousAtOrBefore(cron: CronSchedule, zone: string, at: number): number | null {
  const firstMinute = cron.minutes[0]!;
  const firstMinuteOfDay = cron.hours[0]! * 60 + firstMinute;
  const startDay = localDayOf(zone, at) + 1;
  for (let day = startDay; day > startDay - LOOKBACK_DAYS; day--) {
    if (!dayMatches(cron, day)) continue;
    if (localToInstant(zone, day, firstMinuteOfDay) > at) continue;
    // The last hour whose first minute is not after `at`, then its last minute not after `at`.
    const hour =
      cron.hours[
        firstIndex(cron.hours, (hour) => localToInstant(zone, day, hour * 60 + firstMinute) > at) - 1
      ]!;
    const m = firstIndex(cron.minutes, (minute) => localToInstant(zone, day, hour * 60 + minute) > at) - 1;
    return localToInstant(zone, day, hour * 60 + cron.minutes[m]!);
  }
  return null;
}
