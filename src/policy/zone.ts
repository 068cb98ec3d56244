// Wall-clock arithmetic in an IANA zone, fast enough to run for every target on every pass.
// Local times are handled as "local epoch days" (days since 1970-01-01 in local civil time)
// plus minutes of the day, so iterating days needs no zone lookups at all.
import { DateTime, IANAZone } from "luxon";

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

// luxon builds an Intl.DateTimeFormat per validity check (~1 ms): remember the answers.
const zoneValidity = new Map<string, boolean>();

/** True when `name` is an IANA zone this runtime knows (luxon/Intl). */
export function isValidTimezone(name: string): boolean {
  let valid = zoneValidity.get(name);
  if (valid === undefined) {
    valid = name.length > 0 && IANAZone.isValidZone(name);
    if (zoneValidity.size < 10_000) zoneValidity.set(name, valid);
  }
  return valid;
}

// Intl-backed offset lookups cost ~15 µs each; a cache per 15-minute bucket makes them ~free.
// Every modern tzdata transition falls on a quarter hour; a bucket whose two ends disagree is not cached.
const BUCKET_MS = 15 * MINUTE_MS;
const MAX_CACHED_BUCKETS = 200_000;
const offsetCache = new Map<string, Map<number, number>>();

/** The zone's UTC offset at instant `at`, in milliseconds. */
export function offsetMs(zone: string, at: number): number {
  let buckets = offsetCache.get(zone);
  if (buckets === undefined) {
    buckets = new Map();
    offsetCache.set(zone, buckets);
  }
  const bucket = Math.floor(at / BUCKET_MS);
  const cached = buckets.get(bucket);
  if (cached !== undefined) return cached;
  const ianaZone = IANAZone.create(zone);
  const start = bucket * BUCKET_MS;
  const atStart = ianaZone.offset(start) * MINUTE_MS;
  const atEnd = ianaZone.offset(start + BUCKET_MS - 1) * MINUTE_MS;
  if (atStart !== atEnd) return ianaZone.offset(at) * MINUTE_MS;
  if (buckets.size >= MAX_CACHED_BUCKETS) buckets.clear();
  buckets.set(bucket, atStart);
  return atStart;
}

/** Local epoch day containing instant `at` in `zone`. */
export const localDayOf = (zone: string, at: number): number =>
  Math.floor((at + offsetMs(zone, at)) / DAY_MS);

/** Day of week of a local epoch day: 0 = Sunday … 6 = Saturday (1970-01-01 was a Thursday). */
export const weekdayOf = (day: number): number => (((day + 4) % 7) + 7) % 7;

/** Civil date of a local epoch day: month 1–12, day of month 1–31. */
export function civilDateOf(day: number): { month: number; dayOfMonth: number } {
  const date = new Date(day * DAY_MS);
  return { month: date.getUTCMonth() + 1, dayOfMonth: date.getUTCDate() };
}

/**
 * The instant at which local wall-clock time `day` + `minuteOfDay` occurs in `zone` (SPEC §3.4):
 * a local time skipped by a DST change maps to the first valid instant after it (the end of the gap);
 * a local time that occurs twice maps to its first occurrence. `minuteOfDay` may be 1440 (24:00).
 * Assumes at most one offset change within a day either side, true of every real zone.
 */
export function localToInstant(zone: string, day: number, minuteOfDay: number): number {
  const naive = day * DAY_MS + minuteOfDay * MINUTE_MS;
  const offsetBefore = offsetMs(zone, naive - DAY_MS);
  const offsetAfter = offsetMs(zone, naive + DAY_MS);
  if (offsetBefore === offsetAfter) return naive - offsetBefore;
  const underBefore = naive - offsetBefore;
  const underAfter = naive - offsetAfter;
  const beforeValid = offsetMs(zone, underBefore) === offsetBefore;
  const afterValid = offsetMs(zone, underAfter) === offsetAfter;
  if (beforeValid && afterValid) return Math.min(underBefore, underAfter);
  if (beforeValid) return underBefore;
  if (afterValid) return underAfter;
  // In the gap: find the transition instant, the first minute whose offset is the new one.
  let lo = Math.min(underBefore, underAfter);
  let hi = Math.max(underBefore, underAfter);
  while (hi - lo > MINUTE_MS) {
    const mid = lo + Math.floor((hi - lo) / 2 / MINUTE_MS) * MINUTE_MS;
    if (offsetMs(zone, mid) === offsetAfter) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** `2026-11-27T19:00:00+01:00 (Europe/Berlin)`: an instant as its zone's users read it. */
export function formatLocal(at: number, zone: string): string {
  const local = DateTime.fromMillis(at, { zone }).toISO({ suppressMilliseconds: true });
  return `${local} (${zone})`;
}

/** `2026-11-27T18:00:00Z`; milliseconds appear only when the instant has them. */
export function formatUtc(at: number): string {
  const iso = new Date(at).toISOString();
  return iso.endsWith(".000Z") ? `${iso.slice(0, -5)}Z` : iso;
}
