// Contract between the policy engine (pure) and everything that feeds or reads it.

export type TargetKind = "vcluster" | "namespace";

/** Why a target is asleep; written to `slumber.dev/sleep-reason`. */
export type SleepReason = "schedule" | "inactivity" | "forced" | "manual";

/**
 * Why a target is awake: a wake event of its schedule, recorded activity, a deliberate wake
 * (`slumber wake`, `vcluster resume`, adoption), or `force`. A bounded set, as it labels a metric.
 */
export type WakeReason = "schedule" | "activity" | "manual" | "forced";

export type DesiredState = "awake" | "asleep";

/** A malformed setting: names the annotation (or config key) and the value. Never becomes a default. */
export interface PolicyError {
  /** Full key, e.g. `slumber.dev/sleep-after`, `sleepmode.loft.sh/sleep-after`, `vc-config-NAME:sleep.auto.schedule`. */
  key: string;
  value: string;
  message: string;
  /** Where the value was read (added for messages; optional so existing producers stay valid). */
  source?: PolicyValueSource;
}

/** The target object, its host Namespace, the virtual cluster's config.yaml, the agent's `defaults:`, or a flag. */
export type PolicyValueSource = "object" | "namespace" | "config.yaml" | "defaults" | "flag";

/** Agent-wide settings the policy needs (from flags and the --config file). */
export interface PolicyDefaults {
  /** IANA zone used when a target sets none (`--default-timezone`, UTC). */
  defaultTimezone: string;
  /** `idle` when a target sets no sleep-after (`--default-sleep-after`, 1h). */
  defaultSleepAfterMs: number;
  /** `manage: all` in the config file: every virtual cluster is a target unless excluded. */
  manageAll: boolean;
  /** `defaults:` from the config file: SPEC §2 keys without prefix (`sleep-after`, `awake-hours`, ...). */
  defaults: Readonly<Record<string, string>>;
}

/** Where a target's settings come from, most specific first. */
export interface PolicySources {
  kind: TargetKind;
  /** vcluster: the control-plane StatefulSet/Deployment; namespace: the Namespace. */
  objectAnnotations: Readonly<Record<string, string>>;
  /** vcluster only: its host Namespace's annotations (read after the object's). */
  namespaceAnnotations?: Readonly<Record<string, string>>;
  /** vcluster only: its release name, to name config.yaml keys in errors (`vc-config-NAME:sleep.auto.schedule`). */
  vclusterName?: string;
  /** vcluster only: `config.yaml` of Secret `vc-config-NAME`, if present. */
  vclusterConfigYaml?: string;
}

/** What has been recorded on the object (RFC 3339 annotations parsed to epoch ms). */
export interface RecordedState {
  lastActivity?: number;
  lastWake?: number;
  manualSleep?: number;
}

export interface Transition {
  state: DesiredState;
  /** Epoch ms. */
  at: number;
}

export type Decision =
  | { state: "unmanaged"; reason: string; next: null }
  | { state: "awake"; reason: string; wakeReason: WakeReason; next: Transition | null }
  | { state: "asleep"; reason: string; sleepReason: SleepReason; next: Transition | null };
