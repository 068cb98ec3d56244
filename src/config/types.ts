import type { CostLabel } from "../metrics/cost-labels.js";
import type { PolicyDefaults } from "../policy/types.js";

/** Cost prices; OpenCost defaults. */
export interface Prices {
  cpuCoreHour: number;
  memoryGiBHour: number;
  currency: string;
}

/** Everything the agent is configured with (flags + `--config` YAML), resolved and validated. */
export interface AgentConfig {
  policy: PolicyDefaults;
  /** Namespaces never managed (regexes, anchored). Default kube-system, kube-public, the agent's own. */
  excludeNamespaces: RegExp[];
  /** Namespace the agent runs in (for exclusion and Events' reporting instance). */
  agentNamespace: string;
  dryRun: boolean;
  resyncMs: number;
  prices: Prices;
  /** `--cost-labels`: label keys copied onto `slumber_target_info` (none when absent). */
  costLabels?: CostLabel[];
}
