import { describe, expect, it } from "vitest";
import { ConfigError, loadAgentConfig } from "../../src/config/load.js";

const noEnv = {};
const files = (content: Record<string, string>) => (path: string) => {
  const text = content[path];
  if (text === undefined) throw new Error("ENOENT: no such file or directory");
  return text;
};

describe("loadAgentConfig", () => {
  it("has sensible defaults for every setting", () => {
    const config = loadAgentConfig({}, noEnv);
    expect(config).toMatchObject({
      policy: { defaultTimezone: "UTC", defaultSleepAfterMs: 3_600_000, manageAll: false, defaults: {} },
      agentNamespace: "",
      dryRun: false,
      resyncMs: 30_000,
      prices: { cpuCoreHour: 0.031611, memoryGiBHour: 0.004237, currency: "USD" },
    });
    expect(config.excludeNamespaces.map(String)).toEqual(["/^(?:kube-system)$/", "/^(?:kube-public)$/"]);
  });

  it("takes flags", () => {
    const config = loadAgentConfig(
      {
        defaultTimezone: "Europe/Berlin",
        defaultSleepAfter: "1h30m",
        resync: "2s",
        dryRun: true,
        cpuPrice: "0.05",
        memoryPrice: "0.006",
        currency: "eur",
        namespace: "slumber-system",
      },
      { POD_NAMESPACE: "ignored" },
    );
    expect(config.policy.defaultTimezone).toBe("Europe/Berlin");
    expect(config.policy.defaultSleepAfterMs).toBe(5_400_000);
    expect(config.resyncMs).toBe(2_000);
    expect(config.dryRun).toBe(true);
    expect(config.prices).toEqual({ cpuCoreHour: 0.05, memoryGiBHour: 0.006, currency: "EUR" });
    expect(config.agentNamespace).toBe("slumber-system");
  });

  it("excludes the agent's own namespace from POD_NAMESPACE, matched whole", () => {
    const config = loadAgentConfig({}, { POD_NAMESPACE: "slumber.system" });
    expect(config.agentNamespace).toBe("slumber.system");
    const excluded = (ns: string) => config.excludeNamespaces.some((re) => re.test(ns));
    expect(excluded("slumber.system")).toBe(true);
    expect(excluded("slumberxsystem")).toBe(false);
    expect(excluded("kube-system")).toBe(true);
    expect(excluded("kube-system-2")).toBe(false);
  });

  it("reads defaults, manage and excludeNamespaces from the config file", () => {
    const config = loadAgentConfig(
      { config: "/etc/slumber/config.yaml", namespace: "slumber-system" },
      noEnv,
      files({
        "/etc/slumber/config.yaml": [
          "defaults:",
          "  sleep-after: 45m",
          "  awake-hours: Mon-Fri 08:00-19:00",
          "  timezone: Europe/Berlin",
          "  enabled: true",
          "manage: all",
          "excludeNamespaces:",
          "  - kube-.*",
          "  - platform",
        ].join("\n"),
      }),
    );
    expect(config.policy.defaults).toEqual({
      "sleep-after": "45m",
      "awake-hours": "Mon-Fri 08:00-19:00",
      timezone: "Europe/Berlin",
      enabled: "true",
    });
    expect(config.policy.manageAll).toBe(true);
    expect(config.excludeNamespaces.map(String)).toEqual([
      "/^(?:kube-.*)$/",
      "/^(?:platform)$/",
      "/^(?:slumber-system)$/",
    ]);
  });

  it("accepts an empty config file", () => {
    expect(loadAgentConfig({ config: "c.yaml" }, noEnv, files({ "c.yaml": "" })).policy.manageAll).toBe(
      false,
    );
  });

  it.each([
    ["unknown top-level key", "manage: all\nexclude: [x]", "config file c.yaml: exclude: unknown key"],
    [
      "unknown policy key",
      "defaults:\n  sleep_after: 1h",
      "config file c.yaml: defaults.sleep_after: unknown policy key",
    ],
    [
      "bad duration",
      "defaults:\n  sleep-after: soon",
      'config file c.yaml: defaults.sleep-after: "soon" is not a duration',
    ],
    [
      "bare number duration",
      "defaults:\n  sleep-after: 30",
      'config file c.yaml: defaults.sleep-after: "30" has no unit',
    ],
    [
      "bad zone",
      "defaults:\n  timezone: Mars/Olympus",
      'defaults.timezone: "Mars/Olympus" is not an IANA time zone',
    ],
    [
      "bad boolean",
      "defaults:\n  exclude: yes please",
      'config file c.yaml: defaults.exclude: "yes please" is not true or false',
    ],
    [
      "bad awake-hours",
      "defaults:\n  awake-hours: Mon-Fry 08:00-19:00",
      "config file c.yaml: defaults.awake-hours: ",
    ],
    ["bad cron", "defaults:\n  sleep-schedule: 0 19 * *", "config file c.yaml: defaults.sleep-schedule: "],
    // Found by test/fuzz: assigned into a plain object, this key set the prototype and vanished unreported.
    [
      "a key named __proto__ under defaults",
      "defaults:\n  __proto__: 1h",
      "config file c.yaml: defaults.__proto__: unknown policy key",
    ],
    ["list as a value", "defaults:\n  awake-hours: [a, b]", "defaults.awake-hours: expected a single value"],
    // Found by test/fuzz: String() of this mapping threw a TypeError instead of a ConfigError.
    [
      "a mapping as manage",
      "manage: {toString: 0}",
      'config file c.yaml: manage: {"toString":0} is not "all" or "annotated"',
    ],
    ["a self-referencing manage", "manage: &a\n  x: *a", "config file c.yaml: manage: "],
    ["bad manage", "manage: some", 'config file c.yaml: manage: "some" is not "all" or "annotated"'],
    [
      "bad regex",
      "excludeNamespaces: ['kube-(']",
      'config file c.yaml: excludeNamespaces[0]: "kube-(" is not a regular expression',
    ],
    ["not a list", "excludeNamespaces: kube-system", "excludeNamespaces: expected a list"],
    ["not a mapping", "- a\n- b", "config file c.yaml: expected a mapping"],
    ["broken YAML", "defaults: [", "config file c.yaml: not valid YAML"],
  ])("rejects a config file with %s, naming the file and key", (_name, yaml, message) => {
    const load = () => loadAgentConfig({ config: "c.yaml" }, noEnv, files({ "c.yaml": yaml }));
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(message);
  });

  it("names the file it cannot read", () => {
    expect(() => loadAgentConfig({ config: "/nope.yaml" }, noEnv, files({}))).toThrow(
      "--config: cannot read /nope.yaml: ENOENT",
    );
  });

  it.each([
    [{ defaultTimezone: "Berlin" }, '--default-timezone: "Berlin" is not an IANA time zone'],
    [{ defaultSleepAfter: "an hour" }, "--default-sleep-after: "],
    [{ resync: "0" }, "--resync: must be longer than 0"],
    [{ resync: "30" }, '--resync: "30" has no unit'],
    [{ cpuPrice: "cheap" }, '--cpu-price: "cheap" is not a price'],
    [{ memoryPrice: "-1" }, '--memory-price: "-1" is not a price'],
    [{ currency: "dollars" }, '--currency: "dollars" is not an ISO 4217 code'],
  ])("rejects flags %j", (flags, message) => {
    expect(() => loadAgentConfig(flags, noEnv)).toThrow(message);
  });
});
