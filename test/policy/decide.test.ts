import { describe, expect, test } from "vitest";
import { decide } from "../../src/policy/decide.js";
import { resolvePolicy } from "../../src/policy/resolve.js";
import { parseRecordedState } from "../../src/policy/state.js";
import type { PolicyDefaults, PolicySources, SleepReason, WakeReason } from "../../src/policy/types.js";

const HOUR = 3_600_000;
const baseDefaults: PolicyDefaults = {
  defaultTimezone: "UTC",
  defaultSleepAfterMs: HOUR,
  manageAll: false,
  defaults: {},
};

interface Row {
  name: string;
  annotations: Record<string, string>;
  at: string;
  state: "awake" | "asleep" | "unmanaged";
  /** `asleep@2026-...Z` or null. */
  next: string | null;
  sleepReason?: SleepReason;
  wakeReason?: WakeReason;
  reason?: RegExp;
  sources?: Partial<PolicySources>;
  defaults?: Partial<PolicyDefaults>;
}

const BERLIN = { "slumber.dev/timezone": "Europe/Berlin" };
const NEW_YORK = { "slumber.dev/timezone": "America/New_York" };
const OFFICE_BERLIN = { ...BERLIN, "slumber.dev/awake-hours": "Mon-Fri 08:00-19:00" };
const DAILY_BERLIN = { ...BERLIN, "slumber.dev/awake-hours": "Mon-Sun 08:00-19:00" };
const DAILY_NEW_YORK = { ...NEW_YORK, "slumber.dev/awake-hours": "Mon-Sun 08:00-19:00" };
const CRON_BERLIN = {
  ...BERLIN,
  "slumber.dev/sleep-schedule": "30 2 * * *",
  "slumber.dev/wakeup-schedule": "0 8 * * *",
};

// 2026-11-27 is a Friday. Berlin is UTC+1 in winter, UTC+2 from 2026-03-29 to 2026-10-25.
// New York is UTC-5 in winter, UTC-4 from 2026-03-08 to 2026-11-01. Tokyo is UTC+9 all year.
// Sydney is UTC+11 until 2026-04-05 and from 2026-10-04, UTC+10 between.
const rows: Row[] = [
  // Office hours in Berlin
  {
    name: "Friday 12:00 in Berlin inside Mon-Fri 08:00-19:00",
    annotations: OFFICE_BERLIN,
    at: "2026-11-27T11:00:00Z",
    state: "awake",
    next: "asleep@2026-11-27T18:00:00Z",
    wakeReason: "schedule",
    reason: /inside awake-hours since 2026-11-27T08:00:00\+01:00 \(Europe\/Berlin\)/,
  },
  {
    name: "agent down at 19:00 Friday, evaluated at 21:00: still asleep (level-triggered)",
    annotations: { ...OFFICE_BERLIN, "slumber.dev/last-activity": "2026-11-27T17:30:00Z" },
    at: "2026-11-27T20:00:00Z",
    state: "asleep",
    sleepReason: "schedule",
    next: "awake@2026-11-30T07:00:00Z",
    reason: /outside awake-hours since 2026-11-27T19:00:00\+01:00/,
  },
  {
    name: "Saturday 12:00 in Berlin, no use: asleep until Monday 08:00",
    annotations: OFFICE_BERLIN,
    at: "2026-11-28T11:00:00Z",
    state: "asleep",
    sleepReason: "schedule",
    next: "awake@2026-11-30T07:00:00Z",
  },
  {
    name: "Sunday evening in Berlin: asleep",
    annotations: OFFICE_BERLIN,
    at: "2026-11-29T19:00:00Z",
    state: "asleep",
    next: "awake@2026-11-30T07:00:00Z",
  },
  {
    name: "Monday 07:59 in Berlin: wakes at 08:00",
    annotations: OFFICE_BERLIN,
    at: "2026-11-30T06:59:00Z",
    state: "asleep",
    next: "awake@2026-11-30T07:00:00Z",
  },
  {
    name: "Saturday in Berlin, woken by a request at 10:00, idle 1h (default)",
    annotations: { ...OFFICE_BERLIN, "slumber.dev/last-activity": "2026-11-28T09:00:00Z" },
    at: "2026-11-28T09:30:00Z",
    state: "awake",
    next: "asleep@2026-11-28T10:00:00Z",
    reason: /last activity at 2026-11-28T10:00:00\+01:00/,
  },
  {
    name: "Saturday in Berlin, woken at 10:00, sleep-after 30m, evaluated 10:45: idle",
    annotations: {
      ...OFFICE_BERLIN,
      "slumber.dev/sleep-after": "30m",
      "slumber.dev/last-activity": "2026-11-28T09:00:00Z",
    },
    at: "2026-11-28T09:45:00Z",
    state: "asleep",
    sleepReason: "inactivity",
    next: "awake@2026-11-30T07:00:00Z",
    reason: /idle for 30m/,
  },
  {
    name: "Saturday in Berlin, deliberate wake at 10:00 keeps it awake for idle",
    annotations: {
      ...OFFICE_BERLIN,
      "slumber.dev/last-wake": "2026-11-28T09:00:00Z",
      "slumber.dev/last-activity": "2026-11-27T12:00:00Z",
    },
    at: "2026-11-28T09:20:00Z",
    state: "awake",
    wakeReason: "manual",
    next: "asleep@2026-11-28T10:00:00Z",
    reason: /deliberate wake/,
  },
  {
    name: "manual sleep Friday 11:00 inside the window: asleep until the next wake event",
    annotations: {
      ...OFFICE_BERLIN,
      "slumber.dev/manual-sleep": "2026-11-27T10:00:00Z",
      "slumber.dev/last-activity": "2026-11-27T09:00:00Z",
    },
    at: "2026-11-27T10:30:00Z",
    state: "asleep",
    sleepReason: "manual",
    next: "awake@2026-11-30T07:00:00Z",
  },
  {
    name: "manual sleep then a request: awake for idle after the request",
    annotations: {
      ...OFFICE_BERLIN,
      "slumber.dev/manual-sleep": "2026-11-27T10:00:00Z",
      "slumber.dev/last-activity": "2026-11-27T10:15:00Z",
    },
    at: "2026-11-27T10:30:00Z",
    state: "awake",
    wakeReason: "activity",
    next: "asleep@2026-11-27T11:15:00Z",
  },
  {
    name: "awake-hours with sleep-after 2h: idle inside the window sleeps",
    annotations: {
      ...OFFICE_BERLIN,
      "slumber.dev/sleep-after": "2h",
      "slumber.dev/last-activity": "2026-11-27T09:00:00Z",
    },
    at: "2026-11-27T12:00:00Z",
    state: "asleep",
    sleepReason: "inactivity",
    next: "awake@2026-11-30T07:00:00Z",
  },
  {
    name: "awake-hours with sleep-after 2h: recent use keeps it awake",
    annotations: {
      ...OFFICE_BERLIN,
      "slumber.dev/sleep-after": "2h",
      "slumber.dev/last-activity": "2026-11-27T11:00:00Z",
    },
    at: "2026-11-27T12:00:00Z",
    state: "awake",
    next: "asleep@2026-11-27T13:00:00Z",
  },

  // DST change days, windows
  {
    name: "Berlin spring change day, daily 08:00-19:00: wakes 08:00 CEST",
    annotations: DAILY_BERLIN,
    at: "2026-03-29T05:59:00Z",
    state: "asleep",
    next: "awake@2026-03-29T06:00:00Z",
  },
  {
    name: "Berlin spring change day, daily 08:00-19:00: sleeps 19:00 CEST",
    annotations: DAILY_BERLIN,
    at: "2026-03-29T12:00:00Z",
    state: "awake",
    next: "asleep@2026-03-29T17:00:00Z",
  },
  {
    name: "Berlin autumn change day, daily 08:00-19:00: wakes 08:00 CET",
    annotations: DAILY_BERLIN,
    at: "2026-10-25T06:30:00Z",
    state: "asleep",
    next: "awake@2026-10-25T07:00:00Z",
  },
  {
    name: "Berlin autumn change day, window ending 02:30 closes at the first 02:30",
    annotations: { ...BERLIN, "slumber.dev/awake-hours": "Sun 01:00-02:30" },
    at: "2026-10-25T00:15:00Z",
    state: "awake",
    next: "asleep@2026-10-25T00:30:00Z",
  },
  {
    name: "Berlin spring change day, window starting 02:30 (skipped) opens at 03:00",
    annotations: { ...BERLIN, "slumber.dev/awake-hours": "Sun 02:30-05:00" },
    at: "2026-03-29T00:59:00Z",
    state: "asleep",
    next: "awake@2026-03-29T01:00:00Z",
  },
  {
    name: "New York spring change day, daily 08:00-19:00: wakes 08:00 EDT",
    annotations: DAILY_NEW_YORK,
    at: "2026-03-08T11:00:00Z",
    state: "asleep",
    next: "awake@2026-03-08T12:00:00Z",
    reason: /since 2026-03-07T19:00:00-05:00/,
  },
  {
    name: "New York spring change day, daily 08:00-19:00: sleeps 19:00 EDT",
    annotations: DAILY_NEW_YORK,
    at: "2026-03-08T20:00:00Z",
    state: "awake",
    next: "asleep@2026-03-08T23:00:00Z",
  },
  {
    name: "New York autumn change day, daily 08:00-19:00: wakes 08:00 EST",
    annotations: DAILY_NEW_YORK,
    at: "2026-11-01T12:30:00Z",
    state: "asleep",
    next: "awake@2026-11-01T13:00:00Z",
  },
  {
    name: "New York Saturday outside Mon-Fri 09:00-17:00",
    annotations: { ...NEW_YORK, "slumber.dev/awake-hours": "Mon-Fri 09:00-17:00" },
    at: "2026-11-28T17:00:00Z",
    state: "asleep",
    next: "awake@2026-11-30T14:00:00Z",
  },
  {
    name: "Sydney Friday evening before the April change: wakes Monday 09:00 AEST",
    annotations: {
      "slumber.dev/timezone": "Australia/Sydney",
      "slumber.dev/awake-hours": "Mon-Fri 09:00-17:00",
    },
    at: "2026-04-03T07:00:00Z",
    state: "asleep",
    next: "awake@2026-04-05T23:00:00Z",
  },
  {
    name: "Sydney Saturday before the October change: wakes Monday 09:00 AEDT",
    annotations: {
      "slumber.dev/timezone": "Australia/Sydney",
      "slumber.dev/awake-hours": "Mon-Fri 09:00-17:00",
    },
    at: "2026-10-03T03:00:00Z",
    state: "asleep",
    next: "awake@2026-10-04T22:00:00Z",
  },

  // DST change days, crons
  {
    name: "Berlin spring: a 02:30 sleep cron fires at 03:00 CEST",
    annotations: CRON_BERLIN,
    at: "2026-03-29T00:30:00Z",
    state: "awake",
    next: "asleep@2026-03-29T01:00:00Z",
  },
  {
    name: "Berlin spring: asleep from 03:00 CEST, wakes 08:00 CEST",
    annotations: CRON_BERLIN,
    at: "2026-03-29T01:00:00Z",
    state: "asleep",
    sleepReason: "schedule",
    next: "awake@2026-03-29T06:00:00Z",
    reason: /fired at 2026-03-29T03:00:00\+02:00/,
  },
  {
    name: "Berlin autumn: a 02:30 sleep cron fires at the first 02:30 (CEST)",
    annotations: CRON_BERLIN,
    at: "2026-10-24T23:30:00Z",
    state: "awake",
    next: "asleep@2026-10-25T00:30:00Z",
  },
  {
    name: "Berlin autumn: the second 02:30 (CET) does not fire again",
    annotations: { ...CRON_BERLIN, "slumber.dev/last-activity": "2026-10-25T00:45:00Z" },
    at: "2026-10-25T01:30:00Z",
    state: "awake",
    next: "asleep@2026-10-25T01:45:00Z",
  },
  {
    name: "New York spring: a 02:30 sleep cron fires at 03:00 EDT",
    annotations: {
      ...NEW_YORK,
      "slumber.dev/sleep-schedule": "30 2 * * *",
      "slumber.dev/wakeup-schedule": "0 8 * * *",
    },
    at: "2026-03-08T06:00:00Z",
    state: "awake",
    next: "asleep@2026-03-08T07:00:00Z",
  },
  {
    name: "New York autumn: a 01:30 sleep cron fires at the first 01:30 (EDT)",
    annotations: {
      ...NEW_YORK,
      "slumber.dev/sleep-schedule": "30 1 * * *",
      "slumber.dev/wakeup-schedule": "0 8 * * *",
    },
    at: "2026-11-01T05:00:00Z",
    state: "awake",
    next: "asleep@2026-11-01T05:30:00Z",
  },
  {
    name: "New York autumn: the second 01:30 (EST) does not fire again",
    annotations: {
      ...NEW_YORK,
      "slumber.dev/sleep-schedule": "30 1 * * *",
      "slumber.dev/wakeup-schedule": "0 8 * * *",
      "slumber.dev/last-activity": "2026-11-01T05:45:00Z",
    },
    at: "2026-11-01T06:30:00Z",
    state: "awake",
    next: "asleep@2026-11-01T06:45:00Z",
  },
  {
    name: "Tokyo weekday crons, Friday 21:00 JST: asleep until Monday 09:00 JST",
    annotations: {
      "slumber.dev/timezone": "Asia/Tokyo",
      "slumber.dev/sleep-schedule": "0 20 * * 1-5",
      "slumber.dev/wakeup-schedule": "0 9 * * 1-5",
    },
    at: "2026-11-27T12:00:00Z",
    state: "asleep",
    next: "awake@2026-11-30T00:00:00Z",
  },
  {
    name: "Tokyo weekday crons, Saturday: still asleep",
    annotations: {
      "slumber.dev/timezone": "Asia/Tokyo",
      "slumber.dev/sleep-schedule": "0 20 * * 1-5",
      "slumber.dev/wakeup-schedule": "0 9 * * 1-5",
    },
    at: "2026-11-28T03:00:00Z",
    state: "asleep",
    next: "awake@2026-11-30T00:00:00Z",
  },
  {
    name: "Tokyo sleep cron only, woken by a request: sleeps after idle",
    annotations: {
      "slumber.dev/timezone": "Asia/Tokyo",
      "slumber.dev/sleep-schedule": "0 20 * * *",
      "slumber.dev/last-activity": "2026-11-27T12:30:00Z",
    },
    at: "2026-11-27T13:00:00Z",
    state: "awake",
    next: "asleep@2026-11-27T13:30:00Z",
  },

  // Events at the same instant
  {
    name: "a wake event beats a sleep event at the same instant (wakeup cron at the window's end)",
    annotations: { ...OFFICE_BERLIN, "slumber.dev/wakeup-schedule": "0 19 * * 5" },
    at: "2026-11-27T19:00:00Z",
    state: "awake",
    next: "asleep@2026-11-30T18:00:00Z",
  },
  {
    name: "a manual sleep beats a wake event at the same instant",
    annotations: { ...DAILY_BERLIN, "slumber.dev/manual-sleep": "2026-11-27T07:00:00Z" },
    at: "2026-11-27T08:00:00Z",
    state: "asleep",
    sleepReason: "manual",
    next: "awake@2026-11-28T07:00:00Z",
  },

  // Spans
  {
    name: "overlapping spans merge: no sleep at 12:00",
    annotations: { ...BERLIN, "slumber.dev/awake-hours": "Mon-Fri 08:00-12:00, Mon-Fri 11:00-18:00" },
    at: "2026-11-27T10:30:00Z",
    state: "awake",
    next: "asleep@2026-11-27T17:00:00Z",
  },
  {
    name: "lunch gap between two spans: asleep, wakes 13:00",
    annotations: { ...BERLIN, "slumber.dev/awake-hours": "Mon-Fri 08:00-12:00, Mon-Fri 13:00-18:00" },
    at: "2026-11-27T11:30:00Z",
    state: "asleep",
    next: "awake@2026-11-27T12:00:00Z",
  },
  {
    name: "wrap-around day range Fri-Mon covers Sunday",
    annotations: { ...BERLIN, "slumber.dev/awake-hours": "Fri-Mon 10:00-16:00" },
    at: "2026-11-29T11:00:00Z",
    state: "awake",
    next: "asleep@2026-11-29T15:00:00Z",
  },
  {
    name: "wrap-around day range Fri-Mon excludes Wednesday",
    annotations: { ...BERLIN, "slumber.dev/awake-hours": "Fri-Mon 10:00-16:00" },
    at: "2026-11-25T11:00:00Z",
    state: "asleep",
    next: "awake@2026-11-27T09:00:00Z",
  },
  {
    name: "window crossing midnight Fri 22:00-02:00 is open at Saturday 01:30",
    annotations: { ...BERLIN, "slumber.dev/awake-hours": "Fri 22:00-02:00" },
    at: "2026-11-28T00:30:00Z",
    state: "awake",
    next: "asleep@2026-11-28T01:00:00Z",
  },
  {
    name: "24:00 ends the day: Sat and Sun whole days merge until Monday 00:00",
    annotations: { ...BERLIN, "slumber.dev/awake-hours": "Sat 00:00-24:00, Sun 00:00-24:00" },
    at: "2026-11-29T22:00:00Z",
    state: "awake",
    next: "asleep@2026-11-29T23:00:00Z",
  },
  {
    name: "a zone on the span overrides slumber.dev/timezone",
    annotations: { ...BERLIN, "slumber.dev/awake-hours": "Mon-Fri 09:00-17:00 America/New_York" },
    at: "2026-11-27T20:00:00Z",
    state: "awake",
    next: "asleep@2026-11-27T22:00:00Z",
  },
  {
    name: "windows covering the whole week: always awake, no next",
    annotations: { "slumber.dev/awake-hours": "Mon-Sun 00:00-24:00" },
    at: "2026-11-27T20:00:00Z",
    state: "awake",
    next: null,
  },

  // Force
  {
    name: "force asleep until 15:00 inside the window",
    annotations: {
      ...OFFICE_BERLIN,
      "slumber.dev/force": "asleep",
      "slumber.dev/force-until": "2026-11-27T15:00:00+01:00",
    },
    at: "2026-11-27T11:00:00Z",
    state: "asleep",
    sleepReason: "forced",
    next: "awake@2026-11-27T14:00:00Z",
    reason: /forced asleep/,
  },
  {
    name: "expired force is ignored",
    annotations: {
      ...OFFICE_BERLIN,
      "slumber.dev/force": "asleep",
      "slumber.dev/force-until": "2026-11-27T09:00:00Z",
    },
    at: "2026-11-27T11:00:00Z",
    state: "awake",
    next: "asleep@2026-11-27T18:00:00Z",
  },
  {
    name: "force awake without end, outside the window: awake, no next",
    annotations: { ...OFFICE_BERLIN, "slumber.dev/force": "awake" },
    at: "2026-11-28T11:00:00Z",
    state: "awake",
    wakeReason: "forced",
    next: null,
  },
  {
    name: "force awake until Monday 10:00 over the weekend: window governs after",
    annotations: {
      ...OFFICE_BERLIN,
      "slumber.dev/force": "awake",
      "slumber.dev/force-until": "2026-11-30T10:00:00+01:00",
    },
    at: "2026-11-28T11:00:00Z",
    state: "awake",
    next: "asleep@2026-11-30T18:00:00Z",
  },

  // Inactivity only
  {
    name: "sleep-after 2h with no recorded use: asleep, nothing changes",
    annotations: { "slumber.dev/sleep-after": "2h" },
    at: "2026-11-27T11:00:00Z",
    state: "asleep",
    sleepReason: "inactivity",
    next: null,
    reason: /no recorded use/,
  },
  {
    name: "sleep-after 2h, last activity 1h ago",
    annotations: { "slumber.dev/sleep-after": "2h", "slumber.dev/last-activity": "2026-11-27T10:00:00Z" },
    at: "2026-11-27T11:00:00Z",
    state: "awake",
    next: "asleep@2026-11-27T12:00:00Z",
  },
  {
    name: "sleep-after exactly reached: asleep at L + sleep-after",
    annotations: { "slumber.dev/sleep-after": "1h30m", "slumber.dev/last-activity": "2026-11-27T10:00:00Z" },
    at: "2026-11-27T11:30:00Z",
    state: "asleep",
    next: null,
  },
  {
    name: "enabled only, no schedule, no sleep-after: stays awake",
    annotations: { "slumber.dev/enabled": "true" },
    at: "2026-11-27T11:00:00Z",
    state: "awake",
    next: null,
  },
  {
    name: "sleep-after 0 is off: idle falls back to the default after a sleep event",
    annotations: {
      ...OFFICE_BERLIN,
      "slumber.dev/sleep-after": "0",
      "slumber.dev/last-activity": "2026-11-28T09:00:00Z",
    },
    at: "2026-11-28T09:30:00Z",
    state: "awake",
    next: "asleep@2026-11-28T10:00:00Z",
  },
  {
    name: "sleep-after 0 is off: no inactivity sleep inside the window",
    annotations: { ...OFFICE_BERLIN, "slumber.dev/sleep-after": "0" },
    at: "2026-11-27T16:00:00Z",
    state: "awake",
    next: "asleep@2026-11-27T18:00:00Z",
  },
  {
    name: "--default-sleep-after 30m is idle when sleep-after is unset",
    annotations: { ...OFFICE_BERLIN, "slumber.dev/last-activity": "2026-11-28T09:00:00Z" },
    at: "2026-11-28T09:10:00Z",
    state: "awake",
    next: "asleep@2026-11-28T09:30:00Z",
    defaults: { defaultSleepAfterMs: HOUR / 2 },
  },

  // Compatibility and precedence
  {
    name: "sleepmode.loft.sh/sleep-after in seconds",
    annotations: {
      "sleepmode.loft.sh/sleep-after": "7200",
      "slumber.dev/last-activity": "2026-11-27T10:00:00Z",
    },
    at: "2026-11-27T11:00:00Z",
    state: "awake",
    next: "asleep@2026-11-27T12:00:00Z",
  },
  {
    name: "sleepmode.loft.sh/last-activity (Unix seconds) counts as use",
    annotations: {
      "sleepmode.loft.sh/sleep-after": "3600",
      "sleepmode.loft.sh/last-activity": String(Date.parse("2026-11-27T10:30:00Z") / 1000),
    },
    at: "2026-11-27T11:00:00Z",
    state: "awake",
    next: "asleep@2026-11-27T11:30:00Z",
  },
  {
    name: "slumber.dev/sleep-after beats sleepmode.loft.sh/sleep-after",
    annotations: {
      "slumber.dev/sleep-after": "30m",
      "sleepmode.loft.sh/sleep-after": "7200",
      "slumber.dev/last-activity": "2026-11-27T10:00:00Z",
    },
    at: "2026-11-27T10:10:00Z",
    state: "awake",
    next: "asleep@2026-11-27T10:30:00Z",
  },
  {
    name: "sleepmode.loft.sh/ schedule and timezone",
    annotations: {
      "sleepmode.loft.sh/timezone": "Europe/Berlin",
      "sleepmode.loft.sh/sleep-schedule": "0 19 * * *",
      "sleepmode.loft.sh/wakeup-schedule": "0 8 * * *",
    },
    at: "2026-11-27T17:00:00Z",
    state: "awake",
    next: "asleep@2026-11-27T18:00:00Z",
  },
  {
    name: "config.yaml sleep.auto layout opts in and applies",
    annotations: {},
    sources: {
      vclusterConfigYaml:
        "sleep:\n  auto:\n    afterInactivity: 1h0m0s\n    schedule: '0 19 * * *'\n    timezone: Europe/Berlin\n    wakeup:\n      schedule: '0 8 * * 1-5'\n",
    },
    at: "2026-11-27T09:00:00Z",
    state: "asleep",
    sleepReason: "inactivity",
    // Monday's wake event starts a fresh sleep-after period.
    next: "awake@2026-11-30T07:00:00Z",
  },
  {
    name: "config.yaml sleep.auto with recent use: sleep cron at 19:00 Berlin",
    annotations: { "slumber.dev/last-activity": "2026-11-27T17:30:00Z" },
    sources: {
      vclusterConfigYaml:
        "sleep:\n  auto:\n    afterInactivity: 2h\n    schedule: '0 19 * * *'\n    timezone: Europe/Berlin\n",
    },
    at: "2026-11-27T17:45:00Z",
    state: "awake",
    next: "asleep@2026-11-27T18:00:00Z",
  },
  {
    name: "config.yaml older sleepMode layout opts in and applies",
    annotations: { "slumber.dev/last-activity": "2026-11-27T10:00:00Z" },
    sources: {
      vclusterConfigYaml:
        "sleepMode:\n  enabled: true\n  timeZone: America/New_York\n  autoSleep:\n    afterInactivity: 45m\n",
    },
    at: "2026-11-27T10:30:00Z",
    state: "awake",
    next: "asleep@2026-11-27T10:45:00Z",
  },
  {
    name: "sleepMode.enabled false in config.yaml opts out",
    annotations: {},
    sources: { vclusterConfigYaml: "sleepMode:\n  enabled: false\n  autoSleep:\n    afterInactivity: 45m\n" },
    at: "2026-11-27T10:30:00Z",
    state: "unmanaged",
    next: null,
  },
  {
    name: "sleepmode.loft.sh/ beats config.yaml",
    annotations: {
      "sleepmode.loft.sh/sleep-after": "600",
      "slumber.dev/last-activity": "2026-11-27T10:00:00Z",
    },
    sources: { vclusterConfigYaml: "sleep:\n  auto:\n    afterInactivity: 5h\n" },
    at: "2026-11-27T10:05:00Z",
    state: "awake",
    next: "asleep@2026-11-27T10:10:00Z",
  },
  {
    name: "config.yaml beats the agent defaults",
    annotations: { "slumber.dev/last-activity": "2026-11-27T10:00:00Z" },
    sources: { vclusterConfigYaml: "sleep:\n  auto:\n    afterInactivity: 20m\n" },
    defaults: { defaults: { "sleep-after": "5h" } },
    at: "2026-11-27T10:05:00Z",
    state: "awake",
    next: "asleep@2026-11-27T10:20:00Z",
  },
  {
    name: "manage: all with defaults sleep-after manages an unannotated vcluster",
    annotations: { "slumber.dev/last-activity": "2026-11-27T10:00:00Z" },
    defaults: { manageAll: true, defaults: { "sleep-after": "3h" } },
    at: "2026-11-27T10:05:00Z",
    state: "awake",
    next: "asleep@2026-11-27T13:00:00Z",
  },
  {
    name: "defaults sleep-after alone does not opt a target in",
    annotations: {},
    defaults: { defaults: { "sleep-after": "3h" } },
    at: "2026-11-27T10:05:00Z",
    state: "unmanaged",
    next: null,
    reason: /not opted in/,
  },
  {
    name: "manage: all does not manage namespaces",
    annotations: {},
    sources: { kind: "namespace" },
    defaults: { manageAll: true },
    at: "2026-11-27T10:05:00Z",
    state: "unmanaged",
    next: null,
  },
  {
    name: "host Namespace annotations apply to its virtual cluster",
    annotations: { "slumber.dev/last-activity": "2026-11-27T10:00:00Z" },
    sources: { namespaceAnnotations: { "slumber.dev/sleep-after": "15m" } },
    at: "2026-11-27T10:05:00Z",
    state: "awake",
    next: "asleep@2026-11-27T10:15:00Z",
  },
  {
    name: "object slumber.dev/ beats the Namespace's",
    annotations: { "slumber.dev/sleep-after": "25m", "slumber.dev/last-activity": "2026-11-27T10:00:00Z" },
    sources: { namespaceAnnotations: { "slumber.dev/sleep-after": "15m" } },
    at: "2026-11-27T10:05:00Z",
    state: "awake",
    next: "asleep@2026-11-27T10:25:00Z",
  },
  {
    name: "Namespace slumber.dev/ beats the object's sleepmode.loft.sh/",
    annotations: {
      "sleepmode.loft.sh/sleep-after": "60",
      "slumber.dev/last-activity": "2026-11-27T10:00:00Z",
    },
    sources: { namespaceAnnotations: { "slumber.dev/sleep-after": "15m" } },
    at: "2026-11-27T10:05:00Z",
    state: "awake",
    next: "asleep@2026-11-27T10:15:00Z",
  },
  {
    name: "slumber.dev/exclude true wins over everything",
    annotations: {
      "slumber.dev/exclude": "true",
      "slumber.dev/enabled": "true",
      "slumber.dev/sleep-after": "1h",
    },
    defaults: { manageAll: true },
    at: "2026-11-27T10:05:00Z",
    state: "unmanaged",
    next: null,
    reason: /excluded/,
  },
  {
    name: "sleepmode.loft.sh/exclude true opts out",
    annotations: { "sleepmode.loft.sh/exclude": "true", "slumber.dev/sleep-after": "1h" },
    at: "2026-11-27T10:05:00Z",
    state: "unmanaged",
    next: null,
  },
  {
    name: "slumber.dev/enabled false opts out despite a schedule",
    annotations: { "slumber.dev/enabled": "false", "slumber.dev/sleep-after": "1h" },
    at: "2026-11-27T10:05:00Z",
    state: "unmanaged",
    next: null,
    reason: /disabled/,
  },
  {
    name: "a namespace target opted in by its own annotation",
    annotations: { "slumber.dev/awake-hours": "Mon-Fri 08:00-19:00 Europe/Berlin" },
    sources: { kind: "namespace" },
    at: "2026-11-28T10:05:00Z",
    state: "asleep",
    next: "awake@2026-11-30T07:00:00Z",
  },
];

function evaluateRow(row: Row) {
  const { policy, errors } = resolvePolicy(
    { kind: "vcluster", objectAnnotations: row.annotations, ...row.sources } as PolicySources,
    { ...baseDefaults, ...row.defaults },
  );
  const recorded = parseRecordedState(row.annotations);
  expect([...errors, ...recorded.errors]).toEqual([]);
  return decide(policy, recorded.state, Date.parse(row.at));
}

describe("decide (SPEC §3)", () => {
  test.each(rows)("$name", (row) => {
    const decision = evaluateRow(row);
    expect(decision.state).toBe(row.state);
    const next =
      decision.next === null
        ? null
        : `${decision.next.state}@${new Date(decision.next.at).toISOString().replace(".000Z", "Z")}`;
    expect(next).toBe(row.next);
    if (row.wakeReason !== undefined) {
      expect(decision.state === "awake" ? decision.wakeReason : undefined).toBe(row.wakeReason);
    }
    if (row.sleepReason !== undefined) {
      expect(decision.state === "asleep" ? decision.sleepReason : undefined).toBe(row.sleepReason);
    }
    if (row.reason !== undefined) expect(decision.reason).toMatch(row.reason);
  });
});
