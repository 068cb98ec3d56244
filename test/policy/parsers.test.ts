import { describe, expect, test } from "vitest";
import { parseAwakeHours } from "../../src/policy/awake-hours.js";
import { cronNextAfter, cronPreviousAtOrBefore, parseCron } from "../../src/policy/cron.js";
import { formatDuration, parseDuration, parseSeconds } from "../../src/policy/duration.js";
import { parseBoolean, parseHourlyCost, parseRfc3339, userAgentIgnored } from "../../src/policy/values.js";
import { localToInstant } from "../../src/policy/zone.js";

const MIN = 60_000;

describe("parseDuration", () => {
  test.each([
    ["90s", 90_000],
    ["30m", 30 * MIN],
    ["2h", 120 * MIN],
    ["1h30m", 90 * MIN],
    ["1h0m0s", 60 * MIN],
    ["1.5h", 90 * MIN],
    ["500ms", 500],
    ["0", 0],
  ])("%s is %d ms", (text, ms) => {
    expect(parseDuration(text)).toEqual({ ok: true, value: ms });
  });
  test.each(["", "90", "1d", "-1h", "1h30", "h", "1 h", "abc"])("%j is rejected", (text) => {
    expect(parseDuration(text).ok).toBe(false);
  });
  test("formatDuration round-trips the common forms", () => {
    expect([90_000, 90 * MIN, 120 * MIN, 3_723_000].map(formatDuration)).toEqual([
      "1m30s",
      "1h30m",
      "2h",
      "1h2m3s",
    ]);
  });
  test("sleepmode.loft.sh seconds", () => {
    expect(parseSeconds("3600")).toEqual({ ok: true, value: 3_600_000 });
    expect(parseSeconds("1h").ok).toBe(false);
  });
  // Found by test/fuzz: digits beyond what a double holds exactly read as Infinity or as a rounded
  // count of milliseconds that timers and date arithmetic cannot use.
  test.each([
    ["parseDuration", parseDuration, `${"9".repeat(400)}h`],
    ["parseDuration", parseDuration, `${"9".repeat(20)}h`],
    ["parseDuration", parseDuration, "2562047788h1m"],
    ["parseSeconds", parseSeconds, "9".repeat(400)],
    ["parseSeconds", parseSeconds, "9".repeat(16)],
  ])("%s of a value too large to use is an error quoting it", (_name, parse, text) => {
    const result = parse(text);
    expect(result).toMatchObject({ ok: false });
    if (!result.ok) expect(result.message).toContain(text);
  });
  test("the longest duration still accepted is exact", () => {
    expect(parseDuration("2562047h")).toEqual({ ok: true, value: 2_562_047 * 3_600_000 });
  });
});

describe("parseAwakeHours", () => {
  test("days, times and per-span zones", () => {
    const parsed = parseAwakeHours("Fri-Mon 22:00-06:00 Asia/Tokyo, sat 10:00-24:00 Asia/Tokyo");
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value[0]).toEqual({
      days: [true, true, false, false, false, true, true],
      startMinute: 22 * 60,
      endMinute: 6 * 60,
      zone: "Asia/Tokyo",
    });
    expect(parsed.value[1]?.endMinute).toBe(1440);
  });
  test.each([
    ["", /empty/],
    ["Mon-Fri", /expected e.g./],
    ["Mon-Fry 08:00-19:00", /not a day/],
    ["Mon-Fri 08:00-25:00", /HH:MM-HH:MM/],
    ["Mon-Fri 24:00-08:00", /HH:MM-HH:MM/],
    ["Mon-Fri 8-19", /expected e.g./],
    ["Mon-Fri 08:00-19:00 Mars/Olympus", /IANA/],
    ["Mon-Fri 08:00-12:00 Europe/Berlin, Mon-Fri 13:00-18:00", /some spans but not all/],
  ])("%j is rejected", (text, message) => {
    const parsed = parseAwakeHours(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.message).toMatch(message);
  });
});

describe("parseCron", () => {
  test("fields, names, steps, 7 as Sunday, macros", () => {
    const cron = parseCron("*/20 9-17/4 1,15 jan-mar 7");
    expect(cron.ok).toBe(true);
    if (!cron.ok) return;
    expect(cron.value.minutes).toEqual([0, 20, 40]);
    expect(cron.value.hours).toEqual([9, 13, 17]);
    expect(cron.value.weekdays[0]).toBe(true);
    expect(cron.value.months.filter(Boolean)).toHaveLength(3);
    expect(parseCron("@daily").ok).toBe(true);
  });
  test.each([
    "0 19 * *",
    "60 19 * * *",
    "0 24 * * *",
    "0 19 0 * *",
    "0 19 * 13 *",
    "0 19 * * 8",
    "0 19-8 * * *",
    "*/0 * * * *",
    "0 19 * * mon-fry",
  ])("%j is rejected", (text) => {
    expect(parseCron(text).ok).toBe(false);
  });
  // Found by test/fuzz: the macro table was a plain object, so these names looked up Object's own
  // members and the parser threw instead of answering.
  test.each(["constructor", "__proto__", "toString", "hasOwnProperty"])(
    "%j is an error quoting it, not an exception",
    (text) => {
      const cron = parseCron(text);
      expect(cron).toMatchObject({ ok: false });
      if (!cron.ok) expect(cron.message).toContain(`"${text}"`);
    },
  );

  const fire = (expression: string, zone: string, from: string, direction: "next" | "previous") => {
    const cron = parseCron(expression);
    if (!cron.ok) throw new Error(cron.message);
    const at = Date.parse(from);
    const result =
      direction === "next"
        ? cronNextAfter(cron.value, zone, at, at + 40 * 86_400_000)
        : cronPreviousAtOrBefore(cron.value, zone, at);
    return result === null ? null : new Date(result).toISOString();
  };
  test.each([
    [
      "every 15 min over the Berlin spring gap collapses to 03:00",
      "*/15 * * * *",
      "Europe/Berlin",
      "2026-03-29T00:50:00Z",
      "next",
      "2026-03-29T01:00:00.000Z",
    ],
    [
      "after 03:00 CEST the next quarter is 03:15",
      "*/15 * * * *",
      "Europe/Berlin",
      "2026-03-29T01:00:00Z",
      "next",
      "2026-03-29T01:15:00.000Z",
    ],
    [
      "hourly in the Berlin repeated hour: 03:00 CET follows the first 02:00",
      "0 * * * *",
      "Europe/Berlin",
      "2026-10-25T00:00:00Z",
      "next",
      "2026-10-25T02:00:00.000Z",
    ],
    [
      "previous fire of 02:30 on the Berlin autumn day is the first occurrence",
      "30 2 * * *",
      "Europe/Berlin",
      "2026-10-25T01:45:00Z",
      "previous",
      "2026-10-25T00:30:00.000Z",
    ],
    [
      "previous fire at exactly the instant counts",
      "0 19 * * 1-5",
      "Europe/Berlin",
      "2026-11-27T18:00:00Z",
      "previous",
      "2026-11-27T18:00:00.000Z",
    ],
    [
      "day-of-month OR day-of-week when both restricted",
      "0 12 13 * 5",
      "UTC",
      "2026-11-01T00:00:00Z",
      "next",
      "2026-11-06T12:00:00.000Z",
    ],
    [
      "Feb 29 only: previous is 2024",
      "0 0 29 2 *",
      "UTC",
      "2026-11-27T00:00:00Z",
      "previous",
      "2024-02-29T00:00:00.000Z",
    ],
    ["never beyond the limit", "0 0 29 2 *", "UTC", "2026-11-27T00:00:00Z", "next", null],
  ])("%s", (_name, expression, zone, from, direction, expected) => {
    expect(fire(expression, zone, from, direction as "next" | "previous")).toBe(expected);
  });
});

describe("localToInstant", () => {
  const day = (iso: string) => Date.parse(iso) / 86_400_000;
  test.each([
    ["Berlin skipped 02:30 → 03:00 CEST", "Europe/Berlin", "2026-03-29", 150, "2026-03-29T01:00:00.000Z"],
    ["Berlin repeated 02:30 → first (CEST)", "Europe/Berlin", "2026-10-25", 150, "2026-10-25T00:30:00.000Z"],
    ["New York skipped 02:30 → 03:00 EDT", "America/New_York", "2026-03-08", 150, "2026-03-08T07:00:00.000Z"],
    [
      "New York repeated 01:30 → first (EDT)",
      "America/New_York",
      "2026-11-01",
      90,
      "2026-11-01T05:30:00.000Z",
    ],
    [
      "Sydney repeated 02:30 → first (AEDT)",
      "Australia/Sydney",
      "2026-04-05",
      150,
      "2026-04-04T15:30:00.000Z",
    ],
    ["24:00 is the next midnight", "Asia/Tokyo", "2026-11-27", 1440, "2026-11-27T15:00:00.000Z"],
  ])("%s", (_name, zone, date, minute, expected) => {
    expect(new Date(localToInstant(zone, day(`${date}T00:00:00Z`), minute)).toISOString()).toBe(expected);
  });
});

describe("small values", () => {
  test("booleans", () => {
    expect(parseBoolean("TRUE")).toEqual({ ok: true, value: true });
    expect(parseBoolean("yes").ok).toBe(false);
  });
  test("RFC 3339", () => {
    expect(parseRfc3339("2026-11-27T20:00:00+01:00")).toEqual({
      ok: true,
      value: Date.parse("2026-11-27T19:00:00Z"),
    });
    expect(parseRfc3339("2026-11-27T19:00:00.5Z")).toEqual({
      ok: true,
      value: Date.parse("2026-11-27T19:00:00.500Z"),
    });
    for (const bad of [
      "2026-11-27",
      "2026-11-27T19:00:00",
      "2026-02-30T19:00:00Z",
      "1764270000",
      "tomorrow",
    ]) {
      expect(parseRfc3339(bad).ok, bad).toBe(false);
    }
  });
  test("hourly cost", () => {
    expect(parseHourlyCost("0.25")).toEqual({ ok: true, value: 0.25 });
    for (const bad of ["-1", "1,5", "$3", "1e3", "", "9".repeat(400)]) {
      expect(parseHourlyCost(bad).ok, bad).toBe(false);
    }
  });
  test("user-agent globs", () => {
    const globs = ["argocd*", "kube-probe/*"];
    expect(userAgentIgnored(globs, "argocd-application-controller/v2.9")).toBe(true);
    expect(userAgentIgnored(globs, "kube-probe/1.31")).toBe(true);
    expect(userAgentIgnored(globs, "kubectl/v1.31.0")).toBe(false);
  });
});
