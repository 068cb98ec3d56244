// Fuzzing of the whole policy read (issue 9, item 5): hostile values under every key and prefix,
// on the object and its Namespace, and hostile vc-config config.yaml. Whatever arrives, the
// policy is either usable or refused with errors that each name the key and carry the value,
// and nothing malformed is lost: a value a parser refuses is always reported.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { stringify } from "yaml";
import { LOFT_COMPAT_KEYS, POLICY_KEYS, SLUMBER_STATE_KEYS } from "../../src/policy/annotations.js";
import { parseAwakeHours } from "../../src/policy/awake-hours.js";
import { parseCron } from "../../src/policy/cron.js";
import { decide } from "../../src/policy/decide.js";
import { parseDuration, parseSeconds } from "../../src/policy/duration.js";
import { resolvePolicy, unknownSlumberKeys, validateDefaults } from "../../src/policy/resolve.js";
import { parseRecordedState } from "../../src/policy/state.js";
import type { PolicyDefaults, PolicySources } from "../../src/policy/types.js";
import { parseBoolean, parseForce, parseHourlyCost, parseRfc3339 } from "../../src/policy/values.js";
import { isValidTimezone } from "../../src/policy/zone.js";
import { hostileString, PROTOTYPE_WORDS, RUNS } from "./arbitraries.js";

const T0 = Date.parse("2026-11-27T12:00:00Z");
const DEFAULTS: PolicyDefaults = {
  defaultTimezone: "UTC",
  defaultSleepAfterMs: 3_600_000,
  manageAll: false,
  defaults: {},
};
const runs = { numRuns: RUNS };

/** Whether SPEC §2 accepts `value` for `key`, stated independently of resolve.ts's dispatch. */
const accepts: Record<(typeof POLICY_KEYS)[number], (value: string) => boolean> = {
  enabled: (v) => parseBoolean(v).ok,
  exclude: (v) => parseBoolean(v).ok,
  persistent: (v) => parseBoolean(v).ok,
  "sleep-after": (v) => parseDuration(v).ok,
  "awake-hours": (v) => parseAwakeHours(v).ok,
  "sleep-schedule": (v) => parseCron(v).ok,
  "wakeup-schedule": (v) => parseCron(v).ok,
  timezone: (v) => isValidTimezone(v.trim()),
  force: (v) => parseForce(v).ok,
  "force-until": (v) => parseRfc3339(v).ok,
  "ignore-user-agents": () => true,
  "hourly-cost": (v) => parseHourlyCost(v).ok,
};

const KEYS = [
  ...POLICY_KEYS.map((key) => `slumber.dev/${key}`),
  ...SLUMBER_STATE_KEYS.map((key) => `slumber.dev/${key}`),
  ...LOFT_COMPAT_KEYS.map((key) => `sleepmode.loft.sh/${key}`),
  "sleepmode.loft.sh/last-activity",
  ...PROTOTYPE_WORDS.map((word) => `slumber.dev/${word}`),
  ...PROTOTYPE_WORDS,
];
const annotations = fc.dictionary(
  fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 20 })),
  hostileString,
  {
    maxKeys: 8,
  },
);

/** A YAML leaf or subtree as a vcluster config might (mis)hold one. */
const yamlValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(hostileString, { maxLength: 3 }),
  fc.dictionary(fc.oneof(hostileString, fc.constantFrom(...PROTOTYPE_WORDS)), hostileString, { maxKeys: 3 }),
);
const CONFIG_PATHS = [
  ["sleepMode", "enabled"],
  ["sleep", "auto", "afterInactivity"],
  ["sleepMode", "autoSleep", "afterInactivity"],
  ["sleep", "auto", "schedule"],
  ["sleepMode", "autoSleep", "schedule"],
  ["sleep", "auto", "wakeup", "schedule"],
  ["sleepMode", "autoWakeup", "schedule"],
  ["sleep", "auto", "timezone"],
  ["sleepMode", "timeZone"],
  ["sleep", "auto", "exclude", "selector", "labels"],
  ["sleepMode", "autoSleep", "exclude", "selector", "labels"],
  ["sleep", "auto"],
  ["sleep"],
];
const SELF_REFERENCING = [
  "sleep:\n  auto:\n    schedule: &a\n      x: *a\n",
  "sleep:\n  auto:\n    exclude:\n      selector:\n        labels: &a\n          x: *a\n",
  "sleep: &a\n  auto: *a\n",
];
const configYaml = fc.oneof(
  { weight: 1, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.constantFrom(...SELF_REFERENCING) },
  {
    weight: 3,
    arbitrary: fc
      .array(fc.tuple(fc.constantFrom(...CONFIG_PATHS), yamlValue), { maxLength: 4 })
      .map((entries) => {
        const document: Record<string, unknown> = {};
        for (const [path, value] of entries) {
          let node = document;
          for (const step of path.slice(0, -1)) {
            if (typeof node[step] !== "object" || node[step] === null) node[step] = {};
            node = node[step] as Record<string, unknown>;
          }
          node[path[path.length - 1]!] = value;
        }
        return stringify(document);
      }),
  },
);

function checkResult(sources: PolicySources): void {
  const { policy, errors } = resolvePolicy(sources, DEFAULTS);
  for (const error of errors) {
    expect(error.key.length).toBeGreaterThan(0);
    expect(typeof error.value).toBe("string");
    if (error.source === "object") {
      expect(sources.objectAnnotations[error.key]).toBe(error.value);
      expect(error.message).toContain(error.key);
    } else if (error.source === "namespace") {
      expect(sources.namespaceAnnotations?.[error.key]).toBe(error.value);
      expect(error.message).toContain(`${error.key} on the host Namespace`);
    } else {
      expect(error.source).toBe("config.yaml");
      expect(error.key.startsWith(`vc-config-${sources.vclusterName}:`)).toBe(true);
      expect(error.message).toContain(error.key);
    }
  }
  const { state, errors: stateErrors } = parseRecordedState(sources.objectAnnotations);
  if (errors.length === 0 && stateErrors.length === 0) {
    const decision = decide(policy, state, T0);
    expect(["unmanaged", "awake", "asleep"]).toContain(decision.state);
    expect(typeof decision.reason).toBe("string");
    if (decision.next !== null) expect(decision.next.at).toBeGreaterThan(T0);
  }
}

describe("fuzz: resolvePolicy", () => {
  test("one policy key, any value, either prefix: refused exactly when its parser refuses it", () => {
    fc.assert(
      fc.property(fc.constantFrom(...POLICY_KEYS), hostileString, fc.boolean(), (key, value, compat) => {
        const loft = compat && (LOFT_COMPAT_KEYS as readonly string[]).includes(key);
        const fullKey = `${loft ? "sleepmode.loft.sh/" : "slumber.dev/"}${key}`;
        const { errors } = resolvePolicy(
          { kind: "vcluster", objectAnnotations: { [fullKey]: value } },
          DEFAULTS,
        );
        const ok = loft && key === "sleep-after" ? parseSeconds(value).ok : accepts[key](value);
        if (ok) {
          expect(errors).toEqual([]);
        } else {
          expect(errors).toHaveLength(1);
          expect(errors[0]).toMatchObject({ key: fullKey, value, source: "object" });
          expect(errors[0]!.message).toContain(fullKey);
        }
      }),
      { numRuns: RUNS * 3 },
    );
  });

  test("any annotations on a Namespace target: errors name their key and value; a clean policy decides", () => {
    fc.assert(
      fc.property(annotations, (objectAnnotations) => {
        checkResult({ kind: "namespace", objectAnnotations });
        expect(() => unknownSlumberKeys(objectAnnotations)).not.toThrow();
      }),
      runs,
    );
  });

  test("any annotations on a virtual cluster, its Namespace and its config.yaml: the same", () => {
    fc.assert(
      fc.property(
        annotations,
        annotations,
        fc.option(configYaml, { nil: undefined }),
        fc.constantFrom("vc1", "my-vcluster", "__proto__"),
        (objectAnnotations, namespaceAnnotations, vclusterConfigYaml, vclusterName) => {
          const sources: PolicySources = {
            kind: "vcluster",
            objectAnnotations,
            namespaceAnnotations,
            vclusterName,
          };
          if (vclusterConfigYaml !== undefined) sources.vclusterConfigYaml = vclusterConfigYaml;
          checkResult(sources);
        },
      ),
      runs,
    );
  });

  test("a config.yaml schedule that does not parse is reported under its config.yaml path", () => {
    fc.assert(
      fc.property(hostileString, (schedule) => {
        const { errors } = resolvePolicy(
          {
            kind: "vcluster",
            objectAnnotations: {},
            vclusterName: "vc1",
            vclusterConfigYaml: stringify({ sleep: { auto: { schedule } } }),
          },
          DEFAULTS,
        );
        if (parseCron(schedule).ok) expect(errors).toEqual([]);
        else
          expect(errors).toEqual([
            expect.objectContaining({ key: "vc-config-vc1:sleep.auto.schedule", value: schedule }),
          ]);
      }),
      runs,
    );
  });

  test("validateDefaults: any defaults map; every refused entry is named defaults.KEY with its value", () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.oneof(fc.constantFrom(...POLICY_KEYS, ...PROTOTYPE_WORDS), fc.string({ maxLength: 12 })),
          hostileString,
          {
            maxKeys: 5,
          },
        ),
        (defaults) => {
          const errors = validateDefaults(defaults);
          for (const error of errors) {
            expect(error.key.startsWith("defaults.")).toBe(true);
            expect(defaults[error.key.slice("defaults.".length)]).toBe(error.value);
            expect(error.message).toContain(error.key);
          }
          for (const [key, value] of Object.entries(defaults)) {
            const known = (POLICY_KEYS as readonly string[]).includes(key);
            const refused = errors.some((error) => error.key === `defaults.${key}`);
            expect(refused).toBe(!known || !accepts[key as (typeof POLICY_KEYS)[number]](value));
          }
        },
      ),
      runs,
    );
  });
});
