import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { DEFAULT_PRICES } from "../metrics/cost.js";
import { parseCostLabels } from "../metrics/cost-labels.js";
import { isValidTimezone, parseDuration, validateDefaults } from "../policy/index.js";
import type { AgentConfig } from "./types.js";

/** Namespaces never managed unless the config file lists its own `excludeNamespaces:`. */
export const DEFAULT_EXCLUDED_NAMESPACES = ["kube-system", "kube-public"];

/** The agent's flags as commander hands them over: strings, exactly as typed. */
export interface AgentFlags {
  config?: string;
  namespace?: string;
  defaultTimezone?: string;
  defaultSleepAfter?: string;
  resync?: string;
  dryRun?: boolean;
  cpuPrice?: string;
  memoryPrice?: string;
  currency?: string;
  /** Comma-separated Kubernetes label keys, e.g. `team,cost-center`. */
  costLabels?: string;
}

/** Invalid input (a flag or the config file): the CLI prints it and exits 2. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const CONFIG_FILE_KEYS = ["defaults", "manage", "excludeNamespaces"] as const;

/** The `--config` file's content, validated; every error names the file and the key. */
interface ConfigFile {
  defaults: Record<string, string>;
  manageAll: boolean;
  excludeNamespaces: string[] | null;
}

/** A YAML value for a message, as JSON; String() throws on some mappings, JSON on self-referencing aliases. */
function describeValue(raw: unknown): string {
  try {
    return JSON.stringify(raw) ?? String(raw);
  } catch {
    return "(a value that refers to itself through a YAML alias)";
  }
}

function parseConfigFile(path: string, text: string): ConfigFile {
  const fail = (key: string, message: string): never => {
    throw new ConfigError(`config file ${path}: ${key}: ${message}`);
  };
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`config file ${path}: not valid YAML: ${(error as Error).message}`);
  }
  if (document === null || document === undefined)
    return { defaults: {}, manageAll: false, excludeNamespaces: null };
  if (typeof document !== "object" || Array.isArray(document)) {
    throw new ConfigError(`config file ${path}: expected a mapping with keys ${CONFIG_FILE_KEYS.join(", ")}`);
  }
  const root = document as Record<string, unknown>;
  for (const key of Object.keys(root)) {
    if (!(CONFIG_FILE_KEYS as readonly string[]).includes(key)) {
      fail(key, `unknown key (expected one of ${CONFIG_FILE_KEYS.join(", ")})`);
    }
  }

  let defaults: Record<string, string> = {};
  if (root.defaults !== undefined && root.defaults !== null) {
    if (typeof root.defaults !== "object" || Array.isArray(root.defaults)) {
      fail("defaults", "expected a mapping of policy keys (sleep-after, awake-hours, ...)");
    }
    const entries = Object.entries(root.defaults as Record<string, unknown>).map(([key, raw]) => {
      if (!["string", "number", "boolean"].includes(typeof raw))
        fail(`defaults.${key}`, "expected a single value");
      return [key, String(raw)] as const;
    });
    // fromEntries defines own properties: a key such as `__proto__` stays a key, and is then refused.
    defaults = Object.fromEntries(entries);
    // The policy's own parsers, so the agent refuses at start what it would refuse on every target.
    const errors = validateDefaults(defaults);
    if (errors.length > 0) {
      throw new ConfigError(`config file ${path}: ${errors.map((error) => error.message).join("; ")}`);
    }
  }

  let manageAll = false;
  if (root.manage !== undefined && root.manage !== null) {
    if (root.manage !== "all" && root.manage !== "annotated") {
      fail("manage", `${describeValue(root.manage)} is not "all" or "annotated"`);
    }
    manageAll = root.manage === "all";
  }

  let excludeNamespaces: string[] | null = null;
  if (root.excludeNamespaces !== undefined && root.excludeNamespaces !== null) {
    if (!Array.isArray(root.excludeNamespaces))
      fail("excludeNamespaces", "expected a list of regular expressions");
    excludeNamespaces = (root.excludeNamespaces as unknown[]).map((pattern, index) => {
      if (typeof pattern !== "string") return fail(`excludeNamespaces[${index}]`, "expected a string");
      try {
        new RegExp(pattern);
      } catch (error) {
        fail(
          `excludeNamespaces[${index}]`,
          `"${pattern}" is not a regular expression: ${(error as Error).message}`,
        );
      }
      return pattern;
    });
  }
  return { defaults, manageAll, excludeNamespaces };
}

function flagDuration(flag: string, value: string, allowZero: boolean): number {
  const parsed = parseDuration(value);
  if (!parsed.ok) throw new ConfigError(`${flag}: ${parsed.message}`);
  if (!allowZero && parsed.value <= 0) throw new ConfigError(`${flag}: must be longer than 0`);
  return parsed.value;
}

function flagPrice(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const price = Number(value);
  if (value.trim() === "" || !Number.isFinite(price) || price < 0) {
    throw new ConfigError(`${flag}: "${value}" is not a price (a decimal ≥ 0 per hour)`);
  }
  return price;
}

/** Matches a whole namespace name, as users expect of `kube-system` (not every name containing it). */
const anchored = (pattern: string): RegExp => new RegExp(`^(?:${pattern})$`);

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Resolves flags, `POD_NAMESPACE` and the optional `--config` YAML into an AgentConfig.
 * The agent's own namespace is always excluded, whatever the file says: it must never sleep itself.
 * Throws ConfigError naming the flag, or the file and key, on invalid input.
 */
export function loadAgentConfig(
  flags: AgentFlags,
  env: Readonly<Record<string, string | undefined>> = process.env,
  readFile: (path: string) => string = (path) => readFileSync(path, "utf8"),
): AgentConfig {
  let file: ConfigFile = { defaults: {}, manageAll: false, excludeNamespaces: null };
  if (flags.config !== undefined) {
    let text: string;
    try {
      text = readFile(flags.config);
    } catch (error) {
      throw new ConfigError(`--config: cannot read ${flags.config}: ${(error as Error).message}`);
    }
    file = parseConfigFile(flags.config, text);
  }

  const defaultTimezone = flags.defaultTimezone ?? "UTC";
  if (!isValidTimezone(defaultTimezone)) {
    throw new ConfigError(
      `--default-timezone: "${defaultTimezone}" is not an IANA time zone (e.g. Europe/Berlin)`,
    );
  }
  const defaultSleepAfterMs = flagDuration("--default-sleep-after", flags.defaultSleepAfter ?? "1h", true);
  const resyncMs = flagDuration("--resync", flags.resync ?? "30s", false);

  const agentNamespace = flags.namespace ?? env.POD_NAMESPACE ?? "";
  const excluded = [...(file.excludeNamespaces ?? DEFAULT_EXCLUDED_NAMESPACES)];
  if (agentNamespace !== "") excluded.push(escapeRegExp(agentNamespace));

  const currency = flags.currency ?? DEFAULT_PRICES.currency;
  if (!/^[A-Za-z]{3}$/.test(currency)) {
    throw new ConfigError(`--currency: "${currency}" is not an ISO 4217 code (e.g. USD, EUR)`);
  }

  let costLabels: AgentConfig["costLabels"] = [];
  try {
    costLabels = parseCostLabels("--cost-labels", flags.costLabels ?? "");
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }

  return {
    costLabels,
    policy: {
      defaultTimezone,
      defaultSleepAfterMs,
      manageAll: file.manageAll,
      defaults: file.defaults,
    },
    excludeNamespaces: excluded.map(anchored),
    agentNamespace,
    dryRun: flags.dryRun ?? false,
    resyncMs,
    prices: {
      cpuCoreHour: flagPrice("--cpu-price", flags.cpuPrice, DEFAULT_PRICES.cpuCoreHour),
      memoryGiBHour: flagPrice("--memory-price", flags.memoryPrice, DEFAULT_PRICES.memoryGiBHour),
      currency: currency.toUpperCase(),
    },
  };
}
