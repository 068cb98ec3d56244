// Reads one target from the cluster and runs the policy on it: no writes. The reconciler acts on the
// result; `slumber status` prints it.

import type { AgentConfig } from "../config/types.js";
import type { ControlPlane, KubeClient, NamespaceObject, Workload } from "../kube/types.js";
import { podsHourlyCost } from "../metrics/cost.js";
import { Annotations, decide, type Policy, parseRecordedState, resolvePolicy } from "../policy/index.js";
import type { Decision, PolicyError, RecordedState } from "../policy/types.js";
import {
  BookkeepingAnnotations,
  lastActivitySource,
  parseTimestamp,
  reasonWithActivitySource,
  recordedHourlyCost,
  savedSoFar,
} from "../targets/bookkeeping.js";
import { isNamespaceAsleep } from "../targets/namespace.js";
import { controlPlanePersistence, type Persistence } from "../targets/persistence.js";
import type { TargetRef, TargetView } from "../targets/types.js";
import { isPaused, SYNCED_POD_LABEL } from "../targets/vcluster.js";

export type Evaluated =
  | ({ kind: "vcluster"; plane: ControlPlane; syncedPodNames: string[]; persistence: Persistence } & Common)
  | ({ kind: "namespace"; workloads: Workload[] } & Common);

interface Common {
  ref: TargetRef;
  namespace: NamespaceObject;
  /** Annotations of the object holding the recorded state (control plane or Namespace). */
  annotations: Readonly<Record<string, string>>;
  policy: Policy;
  recorded: RecordedState;
  /** Malformed settings or state: the target must be left exactly as it is. */
  errors: PolicyError[];
  /** No use recorded yet: a newly managed target gets last-wake = now. */
  noRecordedUse: boolean;
  decision: Decision;
  /**
   * Hourly cost in effect while awake: `hourly-cost` (annotation or config default) when set, else the
   * pods' requests priced. Snapshotted at sleep.
   */
  hourlyCost: number;
  asleep: boolean;
}

function decideFor(
  policy: Policy,
  errors: PolicyError[],
  recorded: RecordedState,
  now: number,
): { decision: Decision; noRecordedUse: boolean } {
  const noRecordedUse =
    recorded.lastActivity === undefined &&
    recorded.lastWake === undefined &&
    recorded.manualSleep === undefined;
  if (errors.length > 0)
    return {
      decision: { state: "unmanaged", reason: "policy error: left as is", next: null },
      noRecordedUse,
    };
  // A newly managed target is treated as woken now, exactly as the write that records it will say.
  const state = noRecordedUse && policy.managed ? { ...recorded, lastWake: now } : recorded;
  return { decision: decide(policy, state, now), noRecordedUse };
}

export async function evaluateVcluster(
  kube: KubeClient,
  config: AgentConfig,
  plane: ControlPlane,
  namespace: NamespaceObject,
  now: number,
): Promise<Evaluated> {
  const [configYaml, pods] = await Promise.all([
    kube.readVclusterConfig(plane.meta.namespace, plane.release),
    kube.listPods(plane.meta.namespace),
  ]);
  const annotations = plane.meta.annotations;
  const { policy, errors } = resolvePolicy(
    {
      kind: "vcluster",
      objectAnnotations: annotations,
      namespaceAnnotations: namespace.meta.annotations,
      vclusterName: plane.release,
      ...(configYaml === null ? {} : { vclusterConfigYaml: configYaml }),
    },
    config.policy,
  );
  const recordedState = parseRecordedState(annotations);
  const allErrors = [...errors, ...recordedState.errors];
  const labels = (p: (typeof pods)[number]) => p.metadata?.labels ?? {};
  const ownPods = pods.filter((p) => {
    const l = labels(p);
    return (l.app === "vcluster" && l.release === plane.release) || l[SYNCED_POD_LABEL] === plane.release;
  });
  // A pod already being deleted stays listed (Terminating) for its grace period; deleting it again would
  // repeat the DELETE on every step of the pass (up to MAX_STEPS_PER_PASS) and keep a settled sleep writing.
  const syncedPodNames = pods
    .filter((p) => labels(p)[SYNCED_POD_LABEL] === plane.release && !p.metadata?.deletionTimestamp)
    .map((p) => p.metadata?.name ?? "")
    .filter((name) => name !== "")
    .sort();
  return {
    kind: "vcluster",
    ref: { kind: "vcluster", namespace: plane.meta.namespace, name: plane.release },
    plane,
    namespace,
    syncedPodNames,
    persistence: controlPlanePersistence(plane, policy.persistentVouched, configYaml),
    annotations,
    policy,
    recorded: recordedState.state,
    errors: allErrors,
    ...decideFor(policy, allErrors, recordedState.state, now),
    hourlyCost: hourlyCostInEffect(policy, annotations, podsHourlyCost(ownPods, config.prices)),
    asleep: isPaused(plane),
  };
}

export async function evaluateNamespace(
  kube: KubeClient,
  config: AgentConfig,
  namespace: NamespaceObject,
  now: number,
): Promise<Evaluated> {
  const name = namespace.meta.name;
  const [workloads, pods] = await Promise.all([kube.listWorkloads(name), kube.listPods(name)]);
  const annotations = namespace.meta.annotations;
  const { policy, errors } = resolvePolicy(
    { kind: "namespace", objectAnnotations: annotations },
    config.policy,
  );
  const recordedState = parseRecordedState(annotations);
  const allErrors = [...errors, ...recordedState.errors];
  return {
    kind: "namespace",
    ref: { kind: "namespace", namespace: name, name },
    namespace,
    workloads,
    annotations,
    policy,
    recorded: recordedState.state,
    errors: allErrors,
    ...decideFor(policy, allErrors, recordedState.state, now),
    hourlyCost: hourlyCostInEffect(policy, annotations, podsHourlyCost(pods, config.prices)),
    asleep: isNamespaceAsleep(namespace),
  };
}

/** The policy's `hourly-cost`, unless that key holds our own sleep snapshot (it shares the key, SPEC §2/§4). */
function hourlyCostInEffect(
  policy: Policy,
  annotations: Readonly<Record<string, string>>,
  measured: number,
): number {
  const ownSnapshot = annotations[BookkeepingAnnotations.hourlyCostSource] === "snapshot";
  return ownSnapshot ? measured : (policy.hourlyCost ?? measured);
}

/** A vcluster control plane lives here: the namespace's annotations configure that vcluster, it is no target itself. */
export const hostsControlPlane = (workloads: readonly Workload[]): boolean =>
  workloads.some((w) => w.meta.labels.app === "vcluster" && w.meta.labels.release !== undefined);

export function viewOf(
  evaluated: Evaluated,
  now: number,
  currency: string,
  extraErrors: PolicyError[] = [],
): TargetView {
  const { annotations, decision } = evaluated;
  const asleep = evaluated.asleep;
  const managed = evaluated.policy.managed && evaluated.errors.length === 0;
  const sleepingSince = parseTimestamp(annotations[Annotations.sleepingSince]);
  const lastWake = parseTimestamp(annotations[Annotations.lastWake]);
  const sleepReason = annotations[Annotations.sleepReason];
  const view: TargetView = {
    ...evaluated.ref,
    state: managed || asleep ? (asleep ? "asleep" : "awake") : "unmanaged",
    desired: decision.state,
    reason:
      evaluated.errors.length > 0
        ? `policy error: ${evaluated.errors.map((e) => e.message).join("; ")}`
        : reasonWithActivitySource(decision.reason, annotations),
    since: asleep ? sleepingSince : lastWake,
    lastActivitySource: lastActivitySource(annotations),
    next: decision.next,
    hourlyCost: asleep ? recordedHourlyCost(annotations) : evaluated.hourlyCost,
    currency,
    savedSoFar: savedSoFar(annotations, now),
    policyErrors: [...evaluated.errors, ...extraErrors],
  };
  if (
    asleep &&
    (sleepReason === "schedule" ||
      sleepReason === "inactivity" ||
      sleepReason === "forced" ||
      sleepReason === "manual")
  ) {
    view.sleepReason = sleepReason;
  }
  return view;
}
