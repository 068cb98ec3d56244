import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { decide, HORIZON_MS } from "../../src/policy/decide.js";
import { resolvePolicy } from "../../src/policy/resolve.js";
import { parseRecordedState } from "../../src/policy/state.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Tokyo", "UTC"];
const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
// Around every DST change of 2026 in the zones above, and an ordinary week.
const BASES = [
  "2026-03-08",
  "2026-03-29",
  "2026-04-05",
  "2026-10-04",
  "2026-10-25",
  "2026-11-01",
  "2026-11-27",
].map((date) => Date.parse(`${date}T00:00:00Z`));

const clock = (minute: number) =>
  `${String(Math.floor(minute / 60)).padStart(2, "0")}:${String(minute % 60).padStart(2, "0")}`;
const iso = (at: number) => new Date(at).toISOString();

const minuteOfDay = fc.integer({ min: 0, max: 95 }).map((quarter) => quarter * 15);
const span = fc
  .record({
    from: fc.integer({ min: 0, max: 6 }),
    to: fc.integer({ min: 0, max: 6 }),
    start: minuteOfDay,
    end: minuteOfDay,
  })
  .map(({ from, to, start, end }) => `${DAYS[from]}-${DAYS[to]} ${clock(start)}-${clock(end)}`);
const cron = fc
  .record({
    minute: fc.constantFrom("0", "30", "*/20", "15,45"),
    hour: fc.constantFrom("*", "2", "1-3", "8", "19", "*/6"),
    weekday: fc.constantFrom("*", "1-5", "0,6", "5"),
  })
  .map(({ minute, hour, weekday }) => `${minute} ${hour} * * ${weekday}`);

const scenario = fc.record({
  zone: fc.constantFrom(...ZONES),
  awakeHours: fc.option(fc.array(span, { minLength: 1, maxLength: 3 }), { nil: undefined }),
  sleepSchedule: fc.option(cron, { nil: undefined }),
  wakeupSchedule: fc.option(cron, { nil: undefined }),
  sleepAfterMinutes: fc.option(fc.constantFrom(0, 15, 45, 120, 600), { nil: undefined }),
  force: fc.option(fc.constantFrom("asleep", "awake"), { nil: undefined }),
  forceUntilOffset: fc.option(fc.integer({ min: -3 * 24 * 60, max: 3 * 24 * 60 }), { nil: undefined }),
  base: fc.constantFrom(...BASES),
  atOffset: fc.integer({ min: -5 * 24 * 60, max: 5 * 24 * 60 }),
  atMillis: fc.integer({ min: 0, max: 59_999 }),
  activityOffset: fc.option(fc.integer({ min: -3 * 24 * 60, max: 60 }), { nil: undefined }),
  wakeOffset: fc.option(fc.integer({ min: -3 * 24 * 60, max: 0 }), { nil: undefined }),
  manualSleepOffset: fc.option(fc.integer({ min: -3 * 24 * 60, max: 24 * 60 }), { nil: undefined }),
  samples: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 4, maxLength: 4 }),
});

describe("decide: next is exactly the next change (property)", () => {
  test("constant on [t, next.at), different at next.at; constant over the horizon when next is null", () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const at = s.base + s.atOffset * MINUTE + s.atMillis;
        const annotations: Record<string, string> = {
          "slumber.dev/enabled": "true",
          "slumber.dev/timezone": s.zone,
        };
        if (s.awakeHours) annotations["slumber.dev/awake-hours"] = s.awakeHours.join(", ");
        if (s.sleepSchedule) annotations["slumber.dev/sleep-schedule"] = s.sleepSchedule;
        if (s.wakeupSchedule) annotations["slumber.dev/wakeup-schedule"] = s.wakeupSchedule;
        if (s.sleepAfterMinutes !== undefined)
          annotations["slumber.dev/sleep-after"] =
            s.sleepAfterMinutes === 0 ? "0" : `${s.sleepAfterMinutes}m`;
        if (s.force) annotations["slumber.dev/force"] = s.force;
        if (s.forceUntilOffset !== undefined)
          annotations["slumber.dev/force-until"] = iso(at + s.forceUntilOffset * MINUTE);
        if (s.activityOffset !== undefined)
          annotations["slumber.dev/last-activity"] = iso(at + s.activityOffset * MINUTE + 1234);
        if (s.wakeOffset !== undefined)
          annotations["slumber.dev/last-wake"] = iso(at + s.wakeOffset * MINUTE);
        if (s.manualSleepOffset !== undefined)
          annotations["slumber.dev/manual-sleep"] = iso(at + s.manualSleepOffset * MINUTE);

        const { policy, errors } = resolvePolicy(
          { kind: "vcluster", objectAnnotations: annotations },
          { defaultTimezone: "UTC", defaultSleepAfterMs: HOUR, manageAll: false, defaults: {} },
        );
        const recorded = parseRecordedState(annotations);
        expect([...errors, ...recorded.errors]).toEqual([]);
        const stateAt = (time: number) => decide(policy, recorded.state, time).state;

        const decision = decide(policy, recorded.state, at);
        const end = decision.next?.at ?? at + HORIZON_MS;
        expect(end).toBeGreaterThan(at);
        for (const fraction of s.samples) {
          const time = at + Math.floor(fraction * (end - at));
          if (time < end) expect(stateAt(time), `at ${iso(time)}`).toBe(decision.state);
        }
        expect(stateAt(end - 1), `just before ${iso(end)}`).toBe(decision.state);
        if (decision.next !== null) {
          expect(decision.next.state).not.toBe(decision.state);
          expect(stateAt(decision.next.at), `at next ${iso(decision.next.at)}`).toBe(decision.next.state);
        } else {
          expect(stateAt(end)).toBe(decision.state);
        }
      }),
      { numRuns: 400 },
    );
  });
});
