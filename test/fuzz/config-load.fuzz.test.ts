// Fuzzing of the agent's --config file and flags (issue 9, item 5): any file content and any flag
// text either loads into a complete config or fails with a ConfigError that names the file or flag
// and the key, never another exception, and never a setting silently dropped.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { stringify } from "yaml";
import { type AgentFlags, ConfigError, loadAgentConfig } from "../../src/config/load.js";
import { POLICY_KEYS } from "../../src/policy/annotations.js";
import { hostileString, PROTOTYPE_WORDS, RUNS } from "./arbitraries.js";

const PATH = "/etc/slumber/config.yaml";
const load = (text: string, flags: AgentFlags = {}) =>
  loadAgentConfig({ config: PATH, ...flags }, {}, (path) => {
    expect(path).toBe(PATH);
    return text;
  });

/** Runs `fn`; returns the ConfigError it threw, null if it returned; any other exception fails the test. */
function configErrorOf(fn: () => unknown): ConfigError | null {
  try {
    fn();
    return null;
  } catch (error) {
    if (!(error instanceof ConfigError))
      throw new Error(`not a ConfigError: ${String(error)}`, { cause: error });
    return error;
  }
}

const leaf = fc.oneof(hostileString, fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
const value = fc.oneof(
  { weight: 4, arbitrary: leaf },
  { weight: 1, arbitrary: fc.array(leaf, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(hostileString, leaf, { maxKeys: 2 }) },
);
const VALID_DEFAULTS: Record<string, string[]> = {
  enabled: ["true", "false"],
  "sleep-after": ["30m", "1h", "0"],
  "awake-hours": ["Mon-Fri 08:00-19:00"],
  "sleep-schedule": ["0 19 * * 1-5"],
  timezone: ["Europe/Berlin"],
  "hourly-cost": ["0.5"],
};
const defaultsMap = fc.dictionary(
  fc.oneof(fc.constantFrom(...POLICY_KEYS, ...PROTOTYPE_WORDS), fc.string({ maxLength: 12 })),
  fc.oneof(value, fc.constantFrom(...Object.values(VALID_DEFAULTS).flat())),
  { maxKeys: 4 },
);
const document = fc.record(
  {
    defaults: fc.oneof(defaultsMap, value),
    manage: fc.oneof(fc.constantFrom("all", "annotated"), value),
    excludeNamespaces: fc.oneof(
      fc.array(fc.oneof(fc.constantFrom("kube-.*", "a)(", "[", "(?<n>x)", "x{2,1}", "\\"), hostileString), {
        maxLength: 3,
      }),
      value,
    ),
    extra: value,
  },
  { requiredKeys: [] },
);

describe("fuzz: --config file", () => {
  test("any text: a config, or a ConfigError naming the file", () => {
    fc.assert(
      fc.property(hostileString, (text) => {
        const error = configErrorOf(() => load(text));
        if (error !== null) expect(error.message).toContain(`config file ${PATH}`);
      }),
      {
        numRuns: RUNS,
        examples: [
          ["manage: &a\n  x: *a"],
          ["manage: {toString: 0}"],
          ["defaults: &a\n  x: *a"],
          ["defaults:\n  __proto__: 1h"],
        ],
      },
    );
  });

  test("any mapping: every key loaded as written, or a ConfigError naming the file and the key", () => {
    fc.assert(
      fc.property(document, (doc) => {
        const text = stringify(doc);
        const error = configErrorOf(() => load(text));
        if (error !== null) {
          expect(error.message).toContain(`config file ${PATH}: `);
          const named = Object.keys(doc).some((key) => error.message.includes(key));
          expect(named, error.message).toBe(true);
          return;
        }
        const config = load(text);
        expect(
          Object.keys(doc).every((key) => ["defaults", "manage", "excludeNamespaces"].includes(key)),
        ).toBe(true);
        if (doc.defaults !== null && typeof doc.defaults === "object") {
          expect(config.policy.defaults).toEqual(
            Object.fromEntries(Object.entries(doc.defaults).map(([key, raw]) => [key, String(raw)])),
          );
        }
        expect(config.policy.manageAll).toBe(doc.manage === "all");
        if (Array.isArray(doc.excludeNamespaces)) {
          // Each pattern listed, anchored, plus nothing else (no agent namespace given here).
          expect(config.excludeNamespaces).toHaveLength(doc.excludeNamespaces.length);
        }
      }),
      // JSON.parse makes `__proto__` an own key, as the YAML parser does.
      { numRuns: RUNS, examples: [[JSON.parse('{"defaults": {"__proto__": "1h"}}')]] },
    );
  });

  test("a bad value under defaults: names defaults.KEY and quotes the value", () => {
    fc.assert(
      fc.property(fc.constantFrom(...POLICY_KEYS), hostileString, (key, raw) => {
        const error = configErrorOf(() => load(stringify({ defaults: { [key]: raw } })));
        if (error === null) return;
        expect(error.message).toContain(`defaults.${key}`);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("fuzz: agent flags", () => {
  const FLAGS: Array<[keyof AgentFlags, string]> = [
    ["defaultTimezone", "--default-timezone"],
    ["defaultSleepAfter", "--default-sleep-after"],
    ["resync", "--resync"],
    ["cpuPrice", "--cpu-price"],
    ["memoryPrice", "--memory-price"],
    ["currency", "--currency"],
  ];
  test("any flag text: a config, or a ConfigError naming the flag and quoting the value", () => {
    fc.assert(
      fc.property(fc.constantFrom(...FLAGS), hostileString, ([field, flag], text) => {
        const error = configErrorOf(() => loadAgentConfig({ [field]: text }, {}));
        if (error === null) return;
        expect(error.message.startsWith(`${flag}: `)).toBe(true);
        if (text.trim() !== "") expect(error.message).toContain(text.trim());
      }),
      { numRuns: RUNS },
    );
  });
});
