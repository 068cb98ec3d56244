// `--cost-labels`: Kubernetes label keys copied onto `slumber_target_info` for attribution (team, cost
// centre). Prometheus label names allow only [a-zA-Z_][a-zA-Z0-9_]*, so each key is sanitized.

/** A Kubernetes label key: optional DNS prefix and `/`, then a name of at most 63 characters. */
const LABEL_KEY = /^(?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** Labels every target series already has; a cost label may not take their names. */
const RESERVED = new Set(["kind", "namespace", "name"]);

export interface CostLabel {
  /** The Kubernetes label key read from the control plane or Namespace (`cost-center`). */
  key: string;
  /** The Prometheus label name it becomes (`cost_center`). */
  name: string;
}

/**
 * The Prometheus label name for a Kubernetes label key: every character outside [a-zA-Z0-9_] becomes `_`
 * (`cost-center` → `cost_center`, `example.com/team` → `example_com_team`), and a leading digit gets `_`.
 */
export function promLabelName(key: string): string {
  const name = key.replace(/[^a-zA-Z0-9_]/g, "_");
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

/**
 * Parses `--cost-labels team,cost-center`. Throws naming the flag and the key on a malformed key, a name
 * that collides with kind/namespace/name or a `__` prefix, or two keys that sanitize to the same name.
 */
export function parseCostLabels(flag: string, value: string): CostLabel[] {
  const keys = value
    .split(",")
    .map((key) => key.trim())
    .filter((key) => key !== "");
  const byName = new Map<string, string>();
  return [...new Set(keys)].map((key) => {
    if (!LABEL_KEY.test(key)) {
      throw new Error(`${flag}: "${key}" is not a Kubernetes label key (e.g. team, example.com/cost-center)`);
    }
    const name = promLabelName(key);
    if (RESERVED.has(name) || name.startsWith("__")) {
      throw new Error(`${flag}: "${key}" would become the Prometheus label "${name}", which is reserved`);
    }
    const other = byName.get(name);
    if (other !== undefined) {
      throw new Error(`${flag}: "${other}" and "${key}" both become the Prometheus label "${name}"`);
    }
    byName.set(name, key);
    return { key, name };
  });
}
