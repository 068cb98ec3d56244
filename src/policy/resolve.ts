// Annotations, config.yaml and agent defaults → one Policy, with every malformed value reported.
//
// Precedence per key (SPEC §2): `slumber.dev/` on the object, then on the host Namespace
// (virtual clusters), then `sleepmode.loft.sh/` on the object, then on the Namespace, then the
// virtual cluster's config.yaml (current `sleep.auto.*` before the older `sleepMode.*`), then the
// agent's `defaults:`. Only the value in effect is parsed: an overridden value cannot matter.
//
// Managed: `exclude: "true"` → out; `enabled: "false"` → out; `enabled: "true"`, any schedule or
// inactivity setting of the target's own (annotations or config.yaml, not `defaults:`), or
// `manage: all` for a virtual cluster → in. `defaults: {enabled: "true"}` opts in every target.
import { parse as parseYaml } from "yaml";
import {
  LOFT_COMPAT_KEYS,
  LOFT_SLEEPMODE_PREFIX,
  POLICY_KEYS,
  type PolicyKey,
  SLUMBER_PREFIX,
  SLUMBER_STATE_KEYS,
} from "./annotations.js";
import { type AwakeSpan, parseAwakeHours } from "./awake-hours.js";
import { type CronSchedule, parseCron } from "./cron.js";
import { type Parsed, parseDuration, parseSeconds } from "./duration.js";
import type {
  DesiredState,
  PolicyDefaults,
  PolicyError,
  PolicySources,
  PolicyValueSource,
  TargetKind,
} from "./types.js";
import { parseBoolean, parseForce, parseHourlyCost, parseRfc3339, parseUserAgentGlobs } from "./values.js";
import { isValidTimezone } from "./zone.js";

export interface Policy {
  kind: TargetKind;
  managed: boolean;
  /** Why the target is or is not managed, e.g. `slumber.dev/exclude is "true"`. */
  managedReason: string;
  /** `sleep-after` in ms; null when unset or `0` (off), and then `idle` falls back to the default. */
  sleepAfterMs: number | null;
  /** `idle` of SPEC §3: sleepAfterMs, else the agent's default sleep-after. */
  idleMs: number;
  awakeHours: AwakeSpan[] | null;
  sleepSchedule: CronSchedule | null;
  wakeupSchedule: CronSchedule | null;
  /** Zone for the schedules and for awake-hours spans without their own. */
  timezone: string;
  force: { state: DesiredState; until: number | null } | null;
  ignoreUserAgents: string[];
  hourlyCost: number | null;
  /** `slumber.dev/persistent: "true"`: an administrator vouches the control plane may be scaled to 0. */
  persistentVouched: boolean;
  /** config.yaml `sleep.auto.exclude.selector.labels`: workloads inside the virtual cluster never put to sleep. */
  excludeWorkloadLabels: Record<string, string>;
}

interface Setting {
  /** Full key as the user wrote it, for messages. */
  key: string;
  value: string;
  source: PolicyValueSource;
  /** `sleepmode.loft.sh/sleep-after` is in seconds, every other sleep-after a duration. */
  seconds: boolean;
}

const CONFIG_YAML_PATHS: Partial<Record<PolicyKey, string[][]>> = {
  enabled: [["sleepMode", "enabled"]],
  "sleep-after": [
    ["sleep", "auto", "afterInactivity"],
    ["sleepMode", "autoSleep", "afterInactivity"],
  ],
  "sleep-schedule": [
    ["sleep", "auto", "schedule"],
    ["sleepMode", "autoSleep", "schedule"],
  ],
  "wakeup-schedule": [
    ["sleep", "auto", "wakeup", "schedule"],
    ["sleepMode", "autoWakeup", "schedule"],
  ],
  timezone: [
    ["sleep", "auto", "timezone"],
    ["sleepMode", "timeZone"],
  ],
};
const EXCLUDE_LABEL_PATHS = [
  ["sleep", "auto", "exclude", "selector", "labels"],
  ["sleepMode", "autoSleep", "exclude", "selector", "labels"],
];

const OPT_IN_KEYS: readonly PolicyKey[] = ["sleep-after", "awake-hours", "sleep-schedule", "wakeup-schedule"];

const pathGet = (document: unknown, path: string[]): unknown =>
  path.reduce<unknown>(
    (node, step) =>
      node !== null && typeof node === "object" ? (node as Record<string, unknown>)[step] : undefined,
    document,
  );

/** A YAML value for an error; an alias that refers to itself cannot be written as JSON. */
function describeYamlValue(raw: unknown): string {
  try {
    return JSON.stringify(raw);
  } catch {
    return "(a value that refers to itself through a YAML alias)";
  }
}

/** Parses vc-config config.yaml into the settings Slumber reads; a broken file is an error, not "no settings". */
function readConfigYaml(
  text: string,
  configName: string,
  errors: PolicyError[],
): { settings: Map<PolicyKey, Setting>; excludeLabels: Record<string, string> } {
  const settings = new Map<PolicyKey, Setting>();
  const excludeLabels: Record<string, string> = {};
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    errors.push({
      key: `${configName}:config.yaml`,
      value: "",
      message: `${configName}:config.yaml does not parse as YAML: ${(error as Error).message.split("\n")[0]}`,
      source: "config.yaml",
    });
    return { settings, excludeLabels };
  }
  for (const [policyKey, paths] of Object.entries(CONFIG_YAML_PATHS) as [PolicyKey, string[][]][]) {
    for (const path of paths) {
      const raw = pathGet(document, path);
      if (raw === undefined || raw === null) continue;
      const key = `${configName}:${path.join(".")}`;
      if (typeof raw === "object") {
        errors.push({
          key,
          value: describeYamlValue(raw),
          message: `${key}: expected a single value`,
          source: "config.yaml",
        });
        break;
      }
      settings.set(policyKey, { key, value: String(raw), source: "config.yaml", seconds: false });
      break;
    }
  }
  for (const path of EXCLUDE_LABEL_PATHS) {
    const raw = pathGet(document, path);
    if (raw === undefined || raw === null) continue;
    const key = `${configName}:${path.join(".")}`;
    const entries = typeof raw === "object" && !Array.isArray(raw) ? Object.entries(raw) : null;
    if (entries === null || entries.some(([, value]) => typeof value === "object")) {
      errors.push({
        key,
        value: describeYamlValue(raw),
        message: `${key}: expected a map of label values`,
        source: "config.yaml",
      });
      break;
    }
    for (const [label, value] of entries) excludeLabels[label] = String(value);
    break;
  }
  return { settings, excludeLabels };
}

function lookup(
  policyKey: PolicyKey,
  sources: PolicySources,
  configSettings: Map<PolicyKey, Setting>,
  defaults: Readonly<Record<string, string>> | null,
): Setting | null {
  const layers: Array<[string, Readonly<Record<string, string>> | undefined, PolicyValueSource]> = [
    [SLUMBER_PREFIX, sources.objectAnnotations, "object"],
    [SLUMBER_PREFIX, sources.kind === "vcluster" ? sources.namespaceAnnotations : undefined, "namespace"],
  ];
  if ((LOFT_COMPAT_KEYS as readonly string[]).includes(policyKey)) {
    layers.push(
      [LOFT_SLEEPMODE_PREFIX, sources.objectAnnotations, "object"],
      [
        LOFT_SLEEPMODE_PREFIX,
        sources.kind === "vcluster" ? sources.namespaceAnnotations : undefined,
        "namespace",
      ],
    );
  }
  for (const [prefix, annotations, source] of layers) {
    const key = `${prefix}${policyKey}`;
    const value = annotations?.[key];
    if (value !== undefined) return { key, value, source, seconds: prefix === LOFT_SLEEPMODE_PREFIX };
  }
  const fromConfig = configSettings.get(policyKey);
  if (fromConfig !== undefined) return fromConfig;
  const fromDefaults = defaults?.[policyKey];
  if (fromDefaults !== undefined) {
    return { key: `defaults.${policyKey}`, value: fromDefaults, source: "defaults", seconds: false };
  }
  return null;
}

const where = (setting: Setting): string =>
  setting.source === "namespace" ? `${setting.key} on the host Namespace` : setting.key;

/** Each value parser by key; `sleep-after` depends on the source's unit. */
function parseSetting(policyKey: PolicyKey, setting: Setting): Parsed<unknown> {
  switch (policyKey) {
    case "enabled":
    case "exclude":
    case "persistent":
      return parseBoolean(setting.value);
    case "sleep-after":
      return setting.seconds ? parseSeconds(setting.value) : parseDuration(setting.value);
    case "awake-hours":
      return parseAwakeHours(setting.value);
    case "sleep-schedule":
    case "wakeup-schedule":
      return parseCron(setting.value);
    case "timezone":
      return isValidTimezone(setting.value.trim())
        ? { ok: true, value: setting.value.trim() }
        : { ok: false, message: `"${setting.value}" is not an IANA time zone (e.g. Europe/Berlin)` };
    case "force":
      return parseForce(setting.value);
    case "force-until":
      return parseRfc3339(setting.value);
    case "ignore-user-agents":
      return parseUserAgentGlobs(setting.value);
    case "hourly-cost":
      return parseHourlyCost(setting.value);
  }
}

/** Every value of the config file's `defaults:`, checked with the same parsers as annotations. */
export function validateDefaults(defaults: Readonly<Record<string, string>>): PolicyError[] {
  const errors: PolicyError[] = [];
  for (const [policyKey, value] of Object.entries(defaults)) {
    const key = `defaults.${policyKey}`;
    if (!(POLICY_KEYS as readonly string[]).includes(policyKey)) {
      errors.push({ key, value, message: `${key}: unknown policy key`, source: "defaults" });
      continue;
    }
    const parsed = parseSetting(policyKey as PolicyKey, { key, value, source: "defaults", seconds: false });
    if (!parsed.ok) errors.push({ key, value, message: `${key}: ${parsed.message}`, source: "defaults" });
  }
  return errors;
}

/** `slumber.dev/` keys that are neither policy nor recorded state: most likely typos. */
export function unknownSlumberKeys(annotations: Readonly<Record<string, string>>): string[] {
  const known = new Set<string>([...POLICY_KEYS, ...SLUMBER_STATE_KEYS]);
  return Object.keys(annotations).filter(
    (key) => key.startsWith(SLUMBER_PREFIX) && !known.has(key.slice(SLUMBER_PREFIX.length)),
  );
}

/**
 * The target's policy. When `errors` is not empty the policy is invalid: the caller must leave the
 * target exactly as it is and report the errors (SPEC §2), never act on a partial policy.
 */
export function resolvePolicy(
  sources: PolicySources,
  defaults: PolicyDefaults,
): { policy: Policy; errors: PolicyError[] } {
  const errors: PolicyError[] = [];
  const configName = `vc-config-${sources.vclusterName ?? "NAME"}`;
  const config =
    sources.kind === "vcluster" && sources.vclusterConfigYaml !== undefined
      ? readConfigYaml(sources.vclusterConfigYaml, configName, errors)
      : { settings: new Map<PolicyKey, Setting>(), excludeLabels: {} };

  function resolve<T>(policyKey: PolicyKey, includeDefaults = true): { value: T; setting: Setting } | null {
    const setting = lookup(policyKey, sources, config.settings, includeDefaults ? defaults.defaults : null);
    if (setting === null) return null;
    const parsed = parseSetting(policyKey, setting);
    if (!parsed.ok) {
      errors.push({
        key: setting.key,
        value: setting.value,
        message: `${where(setting)}: ${parsed.message}`,
        source: setting.source,
      });
      return null;
    }
    return { value: parsed.value as T, setting };
  }

  const exclude = resolve<boolean>("exclude");
  const enabled = resolve<boolean>("enabled");
  const optInSetting = OPT_IN_KEYS.map((key) => lookup(key, sources, config.settings, null)).find(
    (setting) => setting !== null,
  );
  let managed: boolean;
  let managedReason: string;
  if (exclude?.value === true) {
    managed = false;
    managedReason = `excluded by ${where(exclude.setting)}="${exclude.setting.value}"`;
  } else if (enabled?.value === false) {
    managed = false;
    managedReason = `disabled by ${where(enabled.setting)}="${enabled.setting.value}"`;
  } else if (enabled?.value === true) {
    managed = true;
    managedReason = `enabled by ${where(enabled.setting)}`;
  } else if (optInSetting !== undefined && optInSetting !== null) {
    managed = true;
    managedReason = `opted in by ${where(optInSetting)}`;
  } else if (defaults.manageAll && sources.kind === "vcluster") {
    managed = true;
    managedReason = "managed by the agent's manage: all";
  } else {
    managed = false;
    managedReason = "not opted in (no slumber.dev/enabled, schedule or sleep-after setting)";
  }

  let defaultTimezone = defaults.defaultTimezone;
  if (!isValidTimezone(defaultTimezone)) {
    errors.push({
      key: "--default-timezone",
      value: defaultTimezone,
      message: `--default-timezone: "${defaultTimezone}" is not an IANA time zone`,
      source: "flag",
    });
    defaultTimezone = "UTC";
  }
  const sleepAfter = resolve<number>("sleep-after");
  const force = resolve<DesiredState>("force");
  const forceUntil = resolve<number>("force-until");
  const sleepAfterMs = sleepAfter === null || sleepAfter.value === 0 ? null : sleepAfter.value;

  const policy: Policy = {
    kind: sources.kind,
    managed,
    managedReason,
    sleepAfterMs,
    idleMs: sleepAfterMs ?? defaults.defaultSleepAfterMs,
    awakeHours: resolve<AwakeSpan[]>("awake-hours")?.value ?? null,
    sleepSchedule: resolve<CronSchedule>("sleep-schedule")?.value ?? null,
    wakeupSchedule: resolve<CronSchedule>("wakeup-schedule")?.value ?? null,
    timezone: resolve<string>("timezone")?.value ?? defaultTimezone,
    // force-until without force is checked but means nothing: it only bounds a force.
    force: force === null ? null : { state: force.value, until: forceUntil?.value ?? null },
    ignoreUserAgents: resolve<string[]>("ignore-user-agents")?.value ?? [],
    hourlyCost: resolve<number>("hourly-cost")?.value ?? null,
    persistentVouched: resolve<boolean>("persistent")?.value ?? false,
    excludeWorkloadLabels: config.excludeLabels,
  };
  return { policy, errors };
}
