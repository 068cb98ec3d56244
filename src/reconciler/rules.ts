// The rules that pick a target's next writes (SPEC §3-§4): a pure function of the evaluated target, the
// time, and what the agent noticed since (activity through the proxy or in the cluster, writes that failed
// this pass). No I/O; the loop in reconciler.ts performs what comes back, re-reads, and asks again.

import { Annotations } from "../policy/annotations.js";
import type { PolicyError, SleepReason } from "../policy/types.js";
import { formatTimestamp } from "../targets/bookkeeping.js";
import {
  isNamespaceAsleep,
  namespaceRef,
  planNamespaceSleep,
  planNamespaceWake,
} from "../targets/namespace.js";
import type { Step } from "../targets/steps.js";
import { targetKey } from "../targets/types.js";
import {
  controlPlaneRef,
  planVclusterAdoption,
  planVclusterSleep,
  planVclusterWake,
} from "../targets/vcluster.js";
import { type Evaluated, hostsControlPlane, unmanagedBecause } from "./evaluate.js";

type VclusterEvaluated = Extract<Evaluated, { kind: "vcluster" }>;
type NamespaceEvaluated = Extract<Evaluated, { kind: "namespace" }>;

/** What to do next with a target. */
export type Next =
  /** Perform these writes (more than one only when independent: a wave of one namespace's workloads). */
  | { kind: "write"; steps: Step[]; evaluated: Evaluated }
  /** Nothing to write: publish the view, reporting `report` once per distinct error. */
  | {
      kind: "settled";
      evaluated: Evaluated;
      extraErrors?: PolicyError[];
      report?: { errors: PolicyError[]; reason: string };
    }
  /** No target (any more): forget it. */
  | { kind: "gone" };

/** What the agent noticed about a target beyond its objects. */
export interface Signals {
  /** The `last-activity` write for a request through the wake proxy, if one is due. */
  proxyActivity: Step | null;
  /** The `last-activity` write for use seen in the cluster (workload specs, synced pods), if one is due. */
  observedActivity: Step | null;
  /** Workloads whose write failed this pass (`Kind/name`): skipped so the others still sleep or wake. */
  failed: ReadonlySet<string>;
  /** The target's namespace matches `excludeNamespaces`. */
  excluded: boolean;
}

export function nextStep(e: Evaluated, now: number, signals: Signals): Next {
  return e.kind === "vcluster" ? nextVclusterStep(e, now, signals) : nextNamespaceStep(e, now, signals);
}

const write = (evaluated: Evaluated, ...steps: Step[]): Next => ({ kind: "write", steps, evaluated });
const settled = (
  evaluated: Evaluated,
  more: Omit<Extract<Next, { kind: "settled" }>, "kind" | "evaluated"> = {},
): Next => ({
  kind: "settled",
  evaluated,
  ...more,
});
/** Malformed policy or state: leave the target exactly as it is, and say so. */
const blocked = (e: Evaluated): Next => settled(e, { report: { errors: e.errors, reason: "PolicyError" } });
const GONE: Next = { kind: "gone" };

export function nextVclusterStep(e: VclusterEvaluated, now: number, signals: Signals): Next {
  if (e.errors.length > 0) return blocked(e);
  if (!e.policy.managed) {
    // Opted out (or its namespace excluded) while asleep by Slumber: wake it rather than strand it paused.
    // A foreign pause stays. Already resumed outside Slumber (`vcluster resume`): close our sleep record, or
    // its sleeping-since stays forever and the savings of a running cluster keep growing.
    const ours = e.annotations[Annotations.sleepingSince] !== undefined;
    const step = ours
      ? (planVclusterWake(e.plane, e.parts, now) ?? planVclusterAdoption(e.plane, now, e.hourlyCost))
      : null;
    if (step) return write(e, step);
    // Ours but held by a restore: still ours to wake later. Anything else is no target: no view, no series.
    return ours && e.asleep ? settled(e) : GONE;
  }
  const adoption = planVclusterAdoption(e.plane, now, e.hourlyCost);
  if (adoption) return write(e, adoption);
  if (e.noRecordedUse) return write(e, lastWakeStep(e, now));
  const activity = signals.proxyActivity ?? signals.observedActivity;
  if (activity) return write(e, activity);
  if (e.decision.state === "asleep") {
    if (!e.persistence.persistent && !e.asleep) {
      const error: PolicyError = {
        key: Annotations.persistent,
        value: e.plane.meta.annotations[Annotations.persistent] ?? "",
        message: `not put to sleep: ${e.persistence.why}`,
      };
      return settled(e, { extraErrors: [error], report: { errors: [error], reason: "NotPersistent" } });
    }
    if (!e.asleep && e.plane.replicas === 0) {
      // Stopped by someone else and never paused: planVclusterSleep leaves it alone (a pause would record no
      // count and the wake would start it at 1). Said like NotPersistent, so `slumber sleep` and status tell why.
      const error: PolicyError = {
        key: "spec.replicas",
        value: "0",
        message: "not put to sleep: the control plane was scaled to 0 outside Slumber and is left at 0",
      };
      return settled(e, { extraErrors: [error], report: { errors: [error], reason: "StoppedExternally" } });
    }
    const step = planVclusterSleep(e.plane, e.parts, now, sleepReasonOf(e), e.hourlyCost);
    return step ? write(e, step) : settled(e);
  }
  if (e.decision.state === "awake") {
    const step = planVclusterWake(e.plane, e.parts, now);
    if (step) return write(e, step);
  }
  return settled(e);
}

export function nextNamespaceStep(e: NamespaceEvaluated, now: number, signals: Signals): Next {
  const name = e.namespace.meta.name;
  const skip = signals.failed;
  // A namespace hosting a vcluster belongs to that vcluster, an excluded one to nobody: either way it is
  // no namespace target, but one Slumber left asleep is woken first (never stranded at zero).
  const leaving = hostsControlPlane(e.workloads)
    ? `namespace ${name} now hosts a virtual cluster`
    : signals.excluded
      ? `namespace ${name} matches excludeNamespaces`
      : null;
  if (leaving) {
    const letGo = unmanagedBecause(e, `${leaving}; woken first`);
    const steps = e.asleep ? planNamespaceWake(e.namespace, e.workloads, now, skip, true) : [];
    if (steps.length > 0) return write(letGo, ...steps);
    // Still asleep (a restore failed this pass): kept, and tried again next pass.
    return isNamespaceAsleep(e.namespace) ? settled(letGo) : GONE;
  }
  // One nobody opted in is no target.
  if (!e.policy.managed && e.errors.length === 0 && !e.asleep) {
    // A workload Slumber left at zero (its restore failed before the opt-out) is still restored.
    const steps = planNamespaceWake(e.namespace, e.workloads, now, skip);
    return steps.length > 0 ? write(unmanagedBecause(e, "opted out; restoring a workload"), ...steps) : GONE;
  }
  if (e.errors.length > 0) return blocked(e);
  if (!e.policy.managed) {
    // Opted out while asleep: wake it rather than strand its workloads at zero.
    const steps = planNamespaceWake(e.namespace, e.workloads, now, skip, true);
    return steps.length > 0 ? write(e, ...steps) : settled(e);
  }
  if (e.noRecordedUse) return write(e, lastWakeStep(e, now));
  if (signals.observedActivity) return write(e, signals.observedActivity);
  const steps =
    e.decision.state === "asleep"
      ? planNamespaceSleep(e.namespace, e.workloads, now, sleepReasonOf(e), e.hourlyCost, skip)
      : e.decision.state === "awake"
        ? planNamespaceWake(e.namespace, e.workloads, now, skip)
        : [];
  return steps.length > 0 ? write(e, ...steps) : settled(e);
}

/** SPEC §3: a target that has just become managed and has no recorded use gets last-wake = now. */
function lastWakeStep(e: Evaluated, now: number): Step {
  const ref = e.kind === "vcluster" ? controlPlaneRef(e.plane) : namespaceRef(e.namespace.meta.name);
  return {
    action: "patch",
    purpose: "activity",
    ref,
    patch: { annotations: { [Annotations.lastWake]: formatTimestamp(now) } },
    note: `${targetKey(e.ref)} newly managed with no recorded use; last-wake set to now`,
  };
}

export function sleepReasonOf(e: Evaluated): SleepReason {
  return e.decision.state === "asleep" ? e.decision.sleepReason : "inactivity";
}
