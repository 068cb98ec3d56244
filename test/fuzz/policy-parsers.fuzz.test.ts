// Property-based fuzzing of every annotation value parser (issue 9, item 5): whatever the text,
// a parser returns a value it can stand behind or an error that quotes the text; it never throws.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { awakeEdges, parseAwakeHours } from "../../src/policy/awake-hours.js";
import { cronNextAfter, cronPreviousAtOrBefore, parseCron } from "../../src/policy/cron.js";
import { formatDuration, parseDuration, parseSeconds } from "../../src/policy/duration.js";
import { parseRecordedState } from "../../src/policy/state.js";
import {
  parseBoolean,
  parseForce,
  parseHourlyCost,
  parseRfc3339,
  parseUserAgentGlobs,
  userAgentIgnored,
} from "../../src/policy/values.js";
import { formatLocal, formatUtc, isValidTimezone, offsetMs } from "../../src/policy/zone.js";
import { hostileString, RUNS } from "./arbitraries.js";

const DAY = 86_400_000;
const T0 = Date.parse("2026-11-27T12:00:00Z");
/** The largest instant a JavaScript Date (and so every formatter) can hold. */
const MAX_DATE_MS = 8.64e15;

const runs = { numRuns: RUNS };
/** Inputs that once broke a parser (see test/policy/parsers.test.ts): always among the runs. */
const BIG = "9".repeat(400);
const known = (...texts: string[]) => ({ numRuns: RUNS, examples: texts.map((text) => [text] as [string]) });
type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

/** An error must say which text it refused: the (trimmed) value appears in the message. */
function expectNamesInput(result: Parsed<unknown>, text: string): void {
  if (result.ok) return;
  expect(typeof result.message).toBe("string");
  expect(result.message.length).toBeGreaterThan(0);
  if (text.trim() !== "") expect(result.message).toContain(text.trim());
}

describe("fuzz: durations", () => {
  test("parseDuration: a finite whole number of ms ≥ 0, or an error quoting the text", () => {
    fc.assert(
      fc.property(hostileString, (text) => {
        const result = parseDuration(text);
        expectNamesInput(result, text);
        if (result.ok) {
          expect(Number.isSafeInteger(result.value)).toBe(true);
          expect(result.value).toBeGreaterThanOrEqual(0);
          expect(typeof formatDuration(result.value)).toBe("string");
        }
      }),
      known(`${BIG}h`, `${"9".repeat(20)}h`, "2562047788h1m", "1.5h", ".5s", "1h0m0s"),
    );
  });

  test("parseSeconds (sleepmode.loft.sh/sleep-after): finite ms ≥ 0, or an error quoting the text", () => {
    fc.assert(
      fc.property(hostileString, (text) => {
        const result = parseSeconds(text);
        expectNamesInput(result, text);
        if (result.ok) {
          expect(Number.isSafeInteger(result.value)).toBe(true);
          expect(result.value).toBeGreaterThanOrEqual(0);
        }
      }),
      known(BIG, "9".repeat(16), "3600"),
    );
  });
});

describe("fuzz: small values", () => {
  test("parseBoolean, parseForce: only their words, else an error quoting the text", () => {
    fc.assert(
      fc.property(hostileString, (text) => {
        const bool = parseBoolean(text);
        expectNamesInput(bool, text);
        if (bool.ok) expect(["true", "false"]).toContain(text.trim().toLowerCase());
        const force = parseForce(text);
        expectNamesInput(force, text);
        if (force.ok) expect(["asleep", "awake"]).toContain(force.value);
      }),
      runs,
    );
  });

  test("parseHourlyCost: a finite decimal ≥ 0, or an error quoting the text", () => {
    fc.assert(
      fc.property(hostileString, (text) => {
        const result = parseHourlyCost(text);
        expectNamesInput(result, text);
        if (result.ok) {
          expect(Number.isFinite(result.value)).toBe(true);
          expect(result.value).toBeGreaterThanOrEqual(0);
        }
      }),
      known(BIG, `${BIG}.5`, "0.25"),
    );
  });

  test("parseRfc3339: an instant every formatter can print, or an error quoting the text", () => {
    const shaped = fc
      .record({
        year: fc.integer({ min: 0, max: 9999 }),
        month: fc.integer({ min: 0, max: 13 }),
        day: fc.integer({ min: 0, max: 32 }),
        hour: fc.integer({ min: 0, max: 25 }),
        minute: fc.integer({ min: 0, max: 61 }),
        second: fc.integer({ min: 0, max: 61 }),
        fraction: fc.constantFrom("", ".5", ".123456789", ".0000000000000000001"),
        offset: fc.constantFrom(
          "Z",
          "z",
          "+00:00",
          "+01:00",
          "-12:00",
          "+14:00",
          "+23:59",
          "+99:99",
          "-00:00",
        ),
        separator: fc.constantFrom("T", "t", " "),
      })
      .map(({ year, month, day, hour, minute, second, fraction, offset, separator }) => {
        const pad = (n: number, width = 2) => String(n).padStart(width, "0");
        return `${pad(year, 4)}-${pad(month)}-${pad(day)}${separator}${pad(hour)}:${pad(minute)}:${pad(second)}${fraction}${offset}`;
      });
    fc.assert(
      fc.property(fc.oneof(hostileString, shaped), (text) => {
        const result = parseRfc3339(text);
        expectNamesInput(result, text);
        if (result.ok) {
          expect(Number.isFinite(result.value)).toBe(true);
          expect(Math.abs(result.value)).toBeLessThanOrEqual(MAX_DATE_MS);
          expect(parseRfc3339(formatUtc(result.value))).toEqual({ ok: true, value: result.value });
        }
      }),
      runs,
    );
  });

  test("ignore-user-agents globs: any list, matched against any User-Agent, never throws", () => {
    fc.assert(
      fc.property(hostileString, hostileString, (list, userAgent) => {
        const globs = parseUserAgentGlobs(list);
        expect(globs.ok).toBe(true);
        if (!globs.ok) return;
        for (const glob of globs.value) {
          expect(glob).toBe(glob.trim());
          expect(glob).not.toBe("");
          // A glob without wildcards matches exactly itself, whatever regex syntax it contains.
          expect(userAgentIgnored([glob], glob)).toBe(true);
        }
        expect(typeof userAgentIgnored(globs.value, userAgent)).toBe("boolean");
      }),
      runs,
    );
  });

  test("timezone: any name is answered; a valid one has offsets and formats", () => {
    fc.assert(
      fc.property(hostileString, (name) => {
        const valid = isValidTimezone(name);
        expect(typeof valid).toBe("boolean");
        if (valid) {
          expect(Number.isFinite(offsetMs(name, T0))).toBe(true);
          expect(formatLocal(T0, name)).toContain(name);
        }
      }),
      runs,
    );
  });
});

describe("fuzz: schedules", () => {
  const cronShaped = fc
    .array(
      fc.oneof(
        fc.constantFrom(
          "*",
          "?",
          "*/5",
          "*/0",
          "1-5",
          "5-1",
          "5/15",
          "7",
          "0,6",
          "sun-sat",
          "mon-sun",
          "jan-dec",
        ),
        fc.integer({ min: -1, max: 70 }).map(String),
        hostileString,
      ),
      { minLength: 0, maxLength: 7 },
    )
    .map((fields) => fields.join(" "));

  test("parseCron: a schedule whose fires can be searched, or an error quoting the expression", () => {
    fc.assert(
      fc.property(fc.oneof(hostileString, cronShaped), (text) => {
        const result = parseCron(text);
        expectNamesInput(result, text);
        if (!result.ok) return;
        const cron = result.value;
        expect(cron.minutes.length).toBeGreaterThan(0);
        expect(cron.hours.length).toBeGreaterThan(0);
        expect(cron.minutes.every((m) => Number.isInteger(m) && m >= 0 && m <= 59)).toBe(true);
        expect(cron.hours.every((h) => Number.isInteger(h) && h >= 0 && h <= 23)).toBe(true);
        const next = cronNextAfter(cron, "Europe/Berlin", T0, T0 + 8 * DAY);
        if (next !== null) expect(next).toBeGreaterThan(T0);
        const previous = cronPreviousAtOrBefore(cron, "Europe/Berlin", T0);
        if (previous !== null) expect(previous).toBeLessThanOrEqual(T0);
      }),
      known("constructor", "__proto__", "@daily", "0 0 31 2 *", "0 0 29 2 *"),
    );
  });

  const awakeShaped = fc
    .array(
      fc
        .tuple(
          fc.constantFrom("", "Mon ", "mon-fri ", "Fri-Mon ", "Sunday ", "Xyz ", "Mon-Tue-Wed ", "-Mon "),
          fc.constantFrom("08:00", "00:00", "24:00", "23:59", "8:00", "25:00", "08:60", "8", "", "08:00:00"),
          fc.constantFrom("-", "--", ""),
          fc.constantFrom("19:00", "24:00", "00:00", "08:00", "24:01", "", "x"),
          fc.constantFrom("", " Europe/Berlin", " UTC", " Nowhere/City", " a b"),
        )
        .map((parts) => parts.join("")),
      { minLength: 0, maxLength: 4 },
    )
    .map((spans) => spans.join(","));

  test("parseAwakeHours: spans whose edges can be computed, or an error naming the spans", () => {
    fc.assert(
      fc.property(fc.oneof(hostileString, awakeShaped), (text) => {
        const result = parseAwakeHours(text);
        if (!result.ok) {
          expect(result.message.length).toBeGreaterThan(0);
          return;
        }
        for (const span of result.value) {
          expect(span.days).toHaveLength(7);
          expect(span.startMinute).toBeGreaterThanOrEqual(0);
          expect(span.startMinute).toBeLessThan(1440);
          // 00:00 as an end is midnight after the start (ends at or before the start cross midnight).
          expect(span.endMinute).toBeGreaterThanOrEqual(0);
          expect(span.endMinute).toBeLessThanOrEqual(1440);
        }
        for (const edge of awakeEdges(result.value, "Europe/Berlin", T0 - DAY, T0 + 8 * DAY)) {
          expect(["wake", "sleep"]).toContain(edge.kind);
        }
      }),
      runs,
    );
  });
});

describe("fuzz: recorded state", () => {
  const keys = [
    "slumber.dev/last-activity",
    "slumber.dev/last-wake",
    "slumber.dev/manual-sleep",
    "sleepmode.loft.sh/last-activity",
  ];
  test("parseRecordedState: every malformed timestamp is an error with its key and value", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...keys), hostileString), (annotations) => {
        const { state, errors } = parseRecordedState(annotations);
        for (const error of errors) {
          expect(annotations[error.key]).toBe(error.value);
          expect(error.message).toContain(error.key);
        }
        for (const at of Object.values(state)) expect(Math.abs(at)).toBeLessThanOrEqual(MAX_DATE_MS);
        const erred = new Set(errors.map((error) => error.key));
        // Nothing is silently dropped: each key given is either read into the state or reported.
        if ("slumber.dev/last-wake" in annotations && !erred.has("slumber.dev/last-wake"))
          expect(state.lastWake).toBeDefined();
        if ("slumber.dev/manual-sleep" in annotations && !erred.has("slumber.dev/manual-sleep"))
          expect(state.manualSleep).toBeDefined();
      }),
      runs,
    );
  });
});
