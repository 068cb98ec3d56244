import type { DesiredState, PolicyError, SleepReason, TargetKind, Transition } from "../policy/types.js";

/** A virtual cluster (by its release name) or a namespace target (namespace === name). */
export interface TargetRef {
  kind: TargetKind;
  namespace: string;
  name: string;
}

export const targetKey = (ref: TargetRef): string => `${ref.kind}/${ref.namespace}/${ref.name}`;

/** What the reconciler knows about one target after a pass; feeds metrics and `slumber status`. */
export interface TargetView extends TargetRef {
  /** Observed state of the workloads; `unmanaged` when policy leaves it alone. */
  state: DesiredState | "unmanaged";
  /** The policy's wish at this pass (differs from `state` while a transition is in flight or on error). */
  desired: DesiredState | "unmanaged";
  reason: string;
  sleepReason?: SleepReason;
  /** Epoch ms: when it went to sleep (asleep) or last woke (awake), if known. */
  since: number | null;
  next: Transition | null;
  /** Estimated cost per hour while awake, in `currency`. */
  hourlyCost: number;
  currency: string;
  /** Money not spent while asleep, as recorded on the object plus the current sleep. */
  savedSoFar: number;
  policyErrors: PolicyError[];
  /**
   * `--cost-labels` values by Kubernetes label key (from the control plane, else its Namespace); a key
   * neither carries is absent. Empty without `--cost-labels`.
   */
  costLabels?: Readonly<Record<string, string>>;
  /** `slumber.dev/last-activity-source`: `request`, `session` (wake proxy) or `workload`; null when unknown. */
  lastActivitySource?: string | null;
}
