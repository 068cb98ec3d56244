import { describe, expect, test } from "vitest";
import { resolvePolicy, unknownSlumberKeys, validateDefaults } from "../../src/policy/resolve.js";
import { parseRecordedState } from "../../src/policy/state.js";
import type { PolicyDefaults, PolicySources } from "../../src/policy/types.js";

const defaults: PolicyDefaults = {
  defaultTimezone: "UTC",
  defaultSleepAfterMs: 3_600_000,
  manageAll: false,
  defaults: {},
};
const resolve = (sources: Partial<PolicySources>, overrides: Partial<PolicyDefaults> = {}) =>
  resolvePolicy({ kind: "vcluster", objectAnnotations: {}, ...sources }, { ...defaults, ...overrides });

describe("policy errors name the key and value, and never become a default", () => {
  test.each([
    ["bad duration", { "slumber.dev/sleep-after": "90" }, "slumber.dev/sleep-after", /has no unit/],
    [
      "bad compat seconds",
      { "sleepmode.loft.sh/sleep-after": "1h" },
      "sleepmode.loft.sh/sleep-after",
      /whole number of seconds/,
    ],
    ["bad cron", { "slumber.dev/sleep-schedule": "0 25 * * *" }, "slumber.dev/sleep-schedule", /hour field/],
    [
      "bad wakeup cron",
      { "slumber.dev/wakeup-schedule": "every day" },
      "slumber.dev/wakeup-schedule",
      /expected 5/,
    ],
    [
      "bad zone",
      { "slumber.dev/timezone": "Europe/Berln", "slumber.dev/sleep-after": "1h" },
      "slumber.dev/timezone",
      /IANA/,
    ],
    [
      "bad awake-hours",
      { "slumber.dev/awake-hours": "weekdays 9-5" },
      "slumber.dev/awake-hours",
      /expected e.g./,
    ],
    [
      "bad force",
      { "slumber.dev/enabled": "true", "slumber.dev/force": "sleep" },
      "slumber.dev/force",
      /asleep or awake/,
    ],
    [
      "bad force-until",
      { "slumber.dev/enabled": "true", "slumber.dev/force": "asleep", "slumber.dev/force-until": "tomorrow" },
      "slumber.dev/force-until",
      /RFC 3339/,
    ],
    [
      "bad hourly-cost",
      { "slumber.dev/enabled": "true", "slumber.dev/hourly-cost": "-0.5" },
      "slumber.dev/hourly-cost",
      /non-negative/,
    ],
    ["bad enabled", { "slumber.dev/enabled": "yes" }, "slumber.dev/enabled", /true or false/],
    ["bad exclude", { "slumber.dev/exclude": "1" }, "slumber.dev/exclude", /true or false/],
  ])("%s", (_name, annotations, key, message) => {
    const { errors } = resolve({ objectAnnotations: annotations });
    expect(errors).toHaveLength(1);
    expect(errors[0]?.key).toBe(key);
    expect(errors[0]?.value).toBe((annotations as Record<string, string>)[key]);
    expect(errors[0]?.message).toMatch(message);
    expect(errors[0]?.message).toContain(key);
  });

  test("an error on the host Namespace says so", () => {
    const { errors } = resolve({ namespaceAnnotations: { "slumber.dev/sleep-after": "soon" } });
    expect(errors[0]).toMatchObject({ key: "slumber.dev/sleep-after", source: "namespace" });
    expect(errors[0]?.message).toContain("on the host Namespace");
  });

  test("config.yaml errors name the vc-config Secret and the path", () => {
    const { errors } = resolve({
      vclusterName: "dev",
      vclusterConfigYaml: "sleep:\n  auto:\n    schedule: '61 * * * *'\n",
    });
    expect(errors[0]).toMatchObject({
      key: "vc-config-dev:sleep.auto.schedule",
      value: "61 * * * *",
      source: "config.yaml",
    });
  });

  test("config.yaml that does not parse is an error, not an empty config", () => {
    const { errors } = resolve({ vclusterName: "dev", vclusterConfigYaml: "sleep: [unclosed" });
    expect(errors[0]?.key).toBe("vc-config-dev:config.yaml");
  });

  // Found by test/fuzz: describing the refused value with JSON.stringify threw on a YAML alias
  // that refers to itself, so a tenant's vc-config Secret could make resolvePolicy throw.
  test.each([
    ["schedule", "sleep:\n  auto:\n    schedule: &a\n      x: *a\n", "vc-config-dev:sleep.auto.schedule"],
    [
      "exclude labels",
      "sleep:\n  auto:\n    exclude:\n      selector:\n        labels: &a\n          x: *a\n",
      "vc-config-dev:sleep.auto.exclude.selector.labels",
    ],
  ])(
    "config.yaml %s that refers to itself is an error naming the path, not an exception",
    (_what, yaml, key) => {
      const { errors } = resolve({ vclusterName: "dev", vclusterConfigYaml: yaml });
      expect(errors).toEqual([expect.objectContaining({ key, source: "config.yaml" })]);
      expect(errors[0]!.message).toContain(key);
    },
  );

  test("a bad --default-timezone is an error", () => {
    const { errors } = resolve(
      { objectAnnotations: { "slumber.dev/sleep-after": "1h" } },
      { defaultTimezone: "Nowhere/City" },
    );
    expect(errors[0]?.key).toBe("--default-timezone");
  });

  test("an overridden value is not parsed (it cannot matter)", () => {
    const { errors, policy } = resolve({
      objectAnnotations: { "slumber.dev/sleep-after": "10m", "sleepmode.loft.sh/sleep-after": "garbage" },
    });
    expect(errors).toEqual([]);
    expect(policy.sleepAfterMs).toBe(600_000);
  });
});

describe("recorded state", () => {
  test("parses RFC 3339 keys and the Platform's Unix seconds; the later activity wins", () => {
    const { state, errors } = parseRecordedState({
      "slumber.dev/last-activity": "2026-11-27T10:00:00Z",
      "sleepmode.loft.sh/last-activity": String(Date.parse("2026-11-27T11:00:00Z") / 1000),
      "slumber.dev/last-wake": "2026-11-27T09:00:00+01:00",
      "slumber.dev/manual-sleep": "2026-11-27T12:00:00Z",
    });
    expect(errors).toEqual([]);
    expect(state).toEqual({
      lastActivity: Date.parse("2026-11-27T11:00:00Z"),
      lastWake: Date.parse("2026-11-27T08:00:00Z"),
      manualSleep: Date.parse("2026-11-27T12:00:00Z"),
    });
  });
  test.each([
    ["slumber.dev/last-activity", "yesterday"],
    ["slumber.dev/last-wake", "1764270000"],
    ["slumber.dev/manual-sleep", "2026-13-01T00:00:00Z"],
    ["sleepmode.loft.sh/last-activity", "2026-11-27T10:00:00Z"],
  ])("bad recorded timestamp %s=%s is an error naming the key", (key, value) => {
    const { state, errors } = parseRecordedState({ [key]: value });
    expect(errors).toEqual([expect.objectContaining({ key, value })]);
    expect(errors[0]?.message).toContain(key);
    expect(state).toEqual({});
  });
});

describe("other resolved settings", () => {
  test("workload exclusion labels from both config.yaml layouts", () => {
    const current = resolve({
      vclusterConfigYaml:
        "sleep:\n  auto:\n    exclude:\n      selector:\n        labels:\n          keep: 'yes'\n",
    });
    expect(current.policy.excludeWorkloadLabels).toEqual({ keep: "yes" });
    const older = resolve({
      vclusterConfigYaml:
        "sleepMode:\n  autoSleep:\n    exclude:\n      selector:\n        labels:\n          tier: db\n",
    });
    expect(older.policy.excludeWorkloadLabels).toEqual({ tier: "db" });
  });
  test("ignore-user-agents, hourly-cost and persistent", () => {
    const { policy, errors } = resolve({
      objectAnnotations: {
        "slumber.dev/enabled": "true",
        "sleepmode.loft.sh/ignore-user-agents": "argocd*, kube-probe/*",
        "slumber.dev/hourly-cost": "0.42",
        "slumber.dev/persistent": "true",
      },
    });
    expect(errors).toEqual([]);
    expect(policy).toMatchObject({
      ignoreUserAgents: ["argocd*", "kube-probe/*"],
      hourlyCost: 0.42,
      persistentVouched: true,
    });
  });
  test("validateDefaults checks every key of the config file's defaults", () => {
    expect(validateDefaults({ "sleep-after": "2h", "awake-hours": "Mon-Fri 08:00-19:00" })).toEqual([]);
    const errors = validateDefaults({ "sleep-afterr": "2h", "sleep-schedule": "nightly" });
    expect(errors.map((error) => error.key)).toEqual(["defaults.sleep-afterr", "defaults.sleep-schedule"]);
  });
  test("unknownSlumberKeys finds typos but not state keys", () => {
    expect(
      unknownSlumberKeys({
        "slumber.dev/sleep-afterr": "1h",
        "slumber.dev/last-wake": "2026-11-27T10:00:00Z",
        "sleepmode.loft.sh/anything": "x",
      }),
    ).toEqual(["slumber.dev/sleep-afterr"]);
  });
});
