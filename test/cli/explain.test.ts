import { describe, expect, test } from "vitest";
import { runExplain } from "../../src/cli/explain.js";

const office = ["slumber.dev/awake-hours=Mon-Fri 08:00-19:00", "slumber.dev/timezone=Europe/Berlin"];

describe("slumber explain", () => {
  test("prints one JSON object with state, reason and next in UTC without milliseconds", () => {
    const result = runExplain({ at: "2026-11-27T21:00:00+01:00", annotations: office });
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout.endsWith("\n")).toBe(true);
    expect(result.stdout.trim().split("\n")).toHaveLength(1);
    const output = JSON.parse(result.stdout);
    expect(Object.keys(output)).toEqual(["state", "reason", "next"]);
    expect(output).toMatchObject({ state: "asleep", next: { state: "awake", at: "2026-11-30T07:00:00Z" } });
    expect(output.reason).toContain("outside awake-hours since 2026-11-27T19:00:00+01:00 (Europe/Berlin)");
  });

  test.each([
    ["request", "last activity (a request through the wake proxy) at 2026-11-28T10:00:00Z"],
    ["session", "last activity (an exec/attach/port-forward session) at"],
    ["workload", "last activity (a workload change) at"],
  ])("names the last activity's source %s (slumber.dev/last-activity-source)", (source, expected) => {
    const output = JSON.parse(
      runExplain({
        at: "2026-11-28T10:10:00Z",
        annotations: [
          "slumber.dev/sleep-after=1h",
          "slumber.dev/last-activity=2026-11-28T10:00:00Z",
          `slumber.dev/last-activity-source=${source}`,
        ],
      }).stdout,
    );
    expect(output.reason).toContain(expected);
  });

  test("unmanaged without opt-in, next null", () => {
    const output = JSON.parse(runExplain({ at: "2026-11-27T12:00:00Z", annotations: [] }).stdout);
    expect(output).toMatchObject({ state: "unmanaged", next: null });
  });

  test("--default-timezone and --default-sleep-after apply", () => {
    const result = runExplain({
      at: "2026-11-28T10:10:00Z",
      defaultTimezone: "America/New_York",
      defaultSleepAfter: "20m",
      annotations: [
        "slumber.dev/awake-hours=Mon-Fri 09:00-17:00",
        "slumber.dev/last-activity=2026-11-28T10:00:00Z",
      ],
    });
    expect(JSON.parse(result.stdout)).toMatchObject({
      state: "awake",
      next: { state: "asleep", at: "2026-11-28T10:20:00Z" },
    });
  });

  test("milliseconds appear only when the instant has them", () => {
    const result = runExplain({
      at: "2026-11-27T12:00:00Z",
      annotations: ["slumber.dev/sleep-after=1h", "slumber.dev/last-activity=2026-11-27T11:30:00.250Z"],
    });
    expect(JSON.parse(result.stdout).next).toEqual({ state: "asleep", at: "2026-11-27T12:30:00.250Z" });
  });

  // Found by test/fuzz: annotations were collected in a plain object, so `key in annotations` was
  // true for Object's own members and these were reported as "given twice".
  test.each(["constructor", "toString", "__proto__"])(
    "a key named %s is judged as a key, not as given twice",
    (key) => {
      const result = runExplain({ at: "2026-11-27T12:00:00Z", annotations: [`${key}=x`] });
      expect(result.stderr).not.toContain("given twice");
      expect(result.exitCode).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ state: "unmanaged" });
    },
  );

  test("a value may contain '='", () => {
    const result = runExplain({
      at: "2026-11-27T12:00:00Z",
      annotations: ["slumber.dev/enabled=true", "slumber.dev/ignore-user-agents=a=b*"],
    });
    expect(result.exitCode).toBe(0);
  });

  test.each([
    ["a bad duration", { annotations: ["slumber.dev/sleep-after=90"] }, /slumber\.dev\/sleep-after.*"90"/],
    [
      "a bad cron",
      { annotations: ["slumber.dev/sleep-schedule=0 25 * * *"] },
      /slumber\.dev\/sleep-schedule.*0 25 \* \* \*/,
    ],
    [
      "a bad zone",
      { annotations: ["slumber.dev/enabled=true", "slumber.dev/timezone=Berlin"] },
      /slumber\.dev\/timezone.*"Berlin"/,
    ],
    [
      "bad awake-hours",
      { annotations: ["slumber.dev/awake-hours=Mon-Fri 9-5"] },
      /slumber\.dev\/awake-hours.*Mon-Fri 9-5/,
    ],
    [
      "a bad recorded timestamp",
      { annotations: ["slumber.dev/enabled=true", "slumber.dev/last-activity=now"] },
      /slumber\.dev\/last-activity.*"now"/,
    ],
    [
      "an unknown slumber.dev/ key",
      { annotations: ["slumber.dev/sleep-afterr=1h"] },
      /slumber\.dev\/sleep-afterr="1h": unknown/,
    ],
    ["an annotation without =", { annotations: ["slumber.dev/enabled"] }, /expected KEY=VALUE/],
    [
      "an annotation given twice",
      { annotations: ["slumber.dev/enabled=true", "slumber.dev/enabled=false"] },
      /given twice/,
    ],
    ["a bad --at", { at: "2026-11-27 noon", annotations: [] }, /--at: .*RFC 3339/],
    ["a bad --default-timezone", { defaultTimezone: "CEST", annotations: [] }, /--default-timezone: "CEST"/],
    [
      "a bad --default-sleep-after",
      { defaultSleepAfter: "soon", annotations: [] },
      /--default-sleep-after: .*"soon"/,
    ],
  ])("exit 2 on %s, naming it on stderr", (_name, options, message) => {
    const result = runExplain({ at: "2026-11-27T12:00:00Z", ...options });
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^slumber explain: /);
    expect(result.stderr).toMatch(message);
  });

  test("accepts the bookkeeping annotations the agent keeps on a sleeping object, copied as they are", () => {
    const result = runExplain({
      at: "2026-11-27T12:00:00Z",
      annotations: [
        "slumber.dev/sleep-after=1h",
        "slumber.dev/last-activity=2026-11-27T10:00:00Z",
        "slumber.dev/sleeping-since=2026-11-27T11:00:00Z",
        "slumber.dev/sleep-reason=inactivity",
        "slumber.dev/hourly-cost=0.013000",
        "slumber.dev/hourly-cost-source=snapshot",
        "slumber.dev/saved-total=0.250000",
        "slumber.dev/asleep-seconds-total=7200",
      ],
    });
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ state: "asleep" });
  });
});
