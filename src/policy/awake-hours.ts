// `slumber.dev/awake-hours`: weekly windows of local wall-clock time in which a target is awake.
//
// Grammar (case-insensitive day names), spans separated by commas:
//   SPAN  = [DAYS] HH:MM-HH:MM [IANA-ZONE]
//   DAYS  = DAY | DAY-DAY        (a range may wrap: Fri-Mon = Fri, Sat, Sun, Mon; no DAYS = every day)
// - `24:00` is accepted as an end: the end of the day.
// - An end at or before the start crosses midnight: `Fri 22:00-02:00` runs to Saturday 02:00,
//   `08:00-08:00` lasts 24 hours. The days name the day a window starts on.
// - A zone is given on every span or on none (then `timezone` / the agent default applies):
//   a zone on only some spans would leave the others' zone a guess, so it is an error.
// - Overlapping or touching windows merge: only the edges of their union are schedule events.
import type { Parsed } from "./duration.js";
import { isValidTimezone, localDayOf, localToInstant, weekdayOf } from "./zone.js";

export interface AwakeSpan {
  /** Indexed 0–6, 0 = Sunday: the days a window starts on. */
  days: boolean[];
  startMinute: number;
  /** 1–1440; at or before startMinute means the window ends the next day. */
  endMinute: number;
  /** Zone of this span, or null for the target's timezone. */
  zone: string | null;
}

const DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const FULL_DAY_NAMES = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];

function dayIndex(text: string): number | null {
  const lower = text.toLowerCase();
  const short = DAY_NAMES.indexOf(lower);
  if (short >= 0) return short;
  const full = FULL_DAY_NAMES.indexOf(lower);
  return full >= 0 ? full : null;
}

function parseDays(text: string): boolean[] | null {
  const days = new Array<boolean>(7).fill(false);
  const bounds = text.split("-");
  if (bounds.length > 2) return null;
  const first = dayIndex(bounds[0]!);
  const last = bounds.length === 2 ? dayIndex(bounds[1]!) : first;
  if (first === null || last === null) return null;
  for (let day = first; ; day = (day + 1) % 7) {
    days[day] = true;
    if (day === last) break;
  }
  return days;
}

function parseClock(text: string, allowEndOfDay: boolean): number | null {
  const match = /^(\d{1,2}):(\d{2})$/.exec(text);
  if (match === null) return null;
  const hours = Number(match[1]);
  const minutes = Number(match[2]);
  if (allowEndOfDay && hours === 24 && minutes === 0) return 1440;
  if (hours > 23 || minutes > 59) return null;
  return hours * 60 + minutes;
}

const SPAN_HELP = "expected e.g. Mon-Fri 08:00-19:00 [Europe/Berlin]";

function parseSpan(text: string): Parsed<AwakeSpan> {
  const words = text.trim().split(/\s+/);
  const timesIndex = words.findIndex((word) => word.includes(":"));
  if (timesIndex < 0 || timesIndex > 1 || words.length > timesIndex + 2) {
    return { ok: false, message: `span "${text.trim()}": ${SPAN_HELP}` };
  }
  const days = timesIndex === 1 ? parseDays(words[0]!) : new Array<boolean>(7).fill(true);
  if (days === null)
    return { ok: false, message: `span "${text.trim()}": "${words[0]}" is not a day or day range` };
  const [startText, endText, extra] = words[timesIndex]!.split("-");
  const startMinute = startText === undefined ? null : parseClock(startText, false);
  const endMinute = endText === undefined ? null : parseClock(endText, true);
  if (startMinute === null || endMinute === null || extra !== undefined) {
    return { ok: false, message: `span "${text.trim()}": "${words[timesIndex]}" is not HH:MM-HH:MM` };
  }
  const zone = words[timesIndex + 1] ?? null;
  if (zone !== null && !isValidTimezone(zone)) {
    return { ok: false, message: `span "${text.trim()}": "${zone}" is not an IANA time zone` };
  }
  return { ok: true, value: { days, startMinute, endMinute, zone } };
}

export function parseAwakeHours(text: string): Parsed<AwakeSpan[]> {
  if (text.trim() === "") return { ok: false, message: `empty; ${SPAN_HELP}` };
  const spans: AwakeSpan[] = [];
  for (const spanText of text.split(",")) {
    const parsed = parseSpan(spanText);
    if (!parsed.ok) return parsed;
    spans.push(parsed.value);
  }
  const zoned = spans.filter((span) => span.zone !== null).length;
  if (zoned > 0 && zoned < spans.length) {
    return {
      ok: false,
      message: "a time zone is given on some spans but not all; give it on every span or none",
    };
  }
  return { ok: true, value: spans };
}

export interface WindowEdge {
  at: number;
  kind: "wake" | "sleep";
}

/**
 * Edges of the union of all windows that fall within [from, to], sorted. Windows are 25 hours at
 * most (24 plus a DST hour), so generating them from two local days before `from` sees every
 * window that could touch an edge in the range. No edges in a range over a week long means the
 * windows cover all time (always awake).
 */
export function awakeEdges(spans: AwakeSpan[], defaultZone: string, from: number, to: number): WindowEdge[] {
  const windows: Array<[number, number]> = [];
  for (const span of spans) {
    const zone = span.zone ?? defaultZone;
    const crossesMidnight = span.endMinute <= span.startMinute;
    const lastDay = localDayOf(zone, to) + 1;
    for (let day = localDayOf(zone, from) - 2; day <= lastDay; day++) {
      if (!span.days[weekdayOf(day)]) continue;
      const start = localToInstant(zone, day, span.startMinute);
      const end = localToInstant(zone, crossesMidnight ? day + 1 : day, span.endMinute);
      // A window inside a skipped hour is empty on that day.
      if (end > start) windows.push([start, end]);
    }
  }
  windows.sort((a, b) => a[0] - b[0]);
  const edges: WindowEdge[] = [];
  const keep = (at: number, kind: WindowEdge["kind"]) => {
    if (at >= from && at <= to) edges.push({ at, kind });
  };
  let union: [number, number] | null = null;
  for (const window of windows) {
    if (union !== null && window[0] <= union[1]) {
      union[1] = Math.max(union[1], window[1]);
      continue;
    }
    if (union !== null) {
      keep(union[0], "wake");
      keep(union[1], "sleep");
    }
    union = [window[0], window[1]];
  }
  if (union !== null) {
    keep(union[0], "wake");
    keep(union[1], "sleep");
  }
  return edges;
}
