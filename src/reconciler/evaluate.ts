// Reads one target from the cluster and runs the policy on it: no writes. The reconciler acts on the
// result; `slumber status` prints it.

import type { V1Pod } from "@kubernetes/client-node";
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
import { isNamespaceAsleep, sleepableWorkloads, unfinishedWorkloads } from "../targets/namespace.js";
import { configuredReplicas, controlPlanePersistence, type Persistence } from "../targets/persistence.js";
import { isJobPod, podsStoppedBySleep } from "../targets/pod-ownership.js";
import type { TargetRef, TargetView } from "../targets/types.js";
import {
  isPaused,
  managedNamespaceSelector,
  SYNCED_POD_LABEL,
  sortCompanions,
  type VclusterParts,
} from "../targets/vcluster.js";

export type Evaluated =
  | ({
      kind: "vcluster";
      plane: ControlPlane;
      parts: VclusterParts;
      /** UIDs of running synced pods other than Jobs' (activity: one appearing or going away is use). */
      activityPodUids: string[];
      persistence: Persistence;
    } & Common)
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
  /** Every Namespace, when the caller has just listed them: spares a list per pass for multi-namespace mode. */
  allNamespaces?: readonly NamespaceObject[],
): Promise<Evaluated> {
  const host = plane.meta.namespace;
  const configYaml = await kube.readVclusterConfig(host, plane.release);
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
  // A virtual cluster nobody opted in, with no sleep of Slumber's to end, costs nothing beyond its control
  // plane: its pods, companions and managed namespaces are not read (nor, through the cache, tracked).
  const recordedState = parseRecordedState(annotations);
  const untouched =
    !policy.managed &&
    errors.length === 0 &&
    recordedState.errors.length === 0 &&
    annotations[Annotations.sleepingSince] === undefined;
  const [pods, managedNamespaces, companions] = untouched
    ? [[], [], []]
    : await Promise.all([
        kube.listPods(host),
        allNamespaces
          ? Promise.resolve(allNamespaces.filter(labelledFor(managedNamespaceSelector(host, plane.release))))
          : // Filtered again: a reader that ignored the selector would make a sleep delete every namespace's pods.
            kube
              .listNamespaces(managedNamespaceSelector(host, plane.release))
              .then((found) => found.filter(labelledFor(managedNamespaceSelector(host, plane.release)))),
        // As the CLI: companions are paused with a Deployment control plane only.
        plane.kind === "Deployment" ? kube.listCompanions(host, plane.release) : Promise.resolve([]),
      ]);
  const managedPods = await Promise.all(
    managedNamespaces.map(async (ns) => ({
      namespace: ns.meta.name,
      pods: await kube.listPods(ns.meta.name),
    })),
  );
  const allErrors = [...errors, ...recordedState.errors];
  const stopped = vclusterPodsStoppedBySleep(plane, pods, managedPods, policy.excludeWorkloadLabels);
  return {
    kind: "vcluster",
    ref: { kind: "vcluster", namespace: host, name: plane.release },
    plane,
    namespace,
    parts: {
      companions: sortCompanions(companions),
      podsToDelete: stopped.toDelete,
      configuredReplicas: configuredReplicas(configYaml),
    },
    activityPodUids: pods
      .filter(
        (p) => p.metadata?.labels?.[SYNCED_POD_LABEL] === plane.release && !p.metadata?.deletionTimestamp,
      )
      .filter((p) => !isJobPod(p))
      .map((p) => p.metadata?.uid ?? "")
      .filter((uid) => uid !== ""),
    persistence: controlPlanePersistence(plane, policy.persistentVouched, configYaml),
    annotations,
    policy,
    recorded: recordedState.state,
    errors: allErrors,
    ...decideFor(policy, allErrors, recordedState.state, now),
    hourlyCost: hourlyCostInEffect(policy, annotations, podsHourlyCost(stopped.priced, config.prices)),
    asleep: isPaused(plane),
  };
}

/** Matches objects against an equality selector `key=value[,key=value]`. */
const labelledFor = (selector: string) => {
  const terms = selector.split(",").map((term) => term.split("=") as [string, string]);
  return (object: { meta: { labels: Readonly<Record<string, string>> } }) =>
    terms.every(([key, value]) => object.meta.labels[key] === value);
};

const COMPANION_APPS = new Set(["vcluster-etcd", "vcluster-api", "vcluster-controller"]);

/**
 * The pods a sleep of this virtual cluster stops, and so the ones its cost is: the control plane's, with a
 * Deployment plane its etcd/api/controller's, its synced pods and every pod of the namespaces it manages in
 * multi-namespace mode, except those matching `sleep.auto.exclude.selector.labels` (left running). Nothing
 * else in the host namespace (bare pods, DaemonSets, other clusters) is stopped or priced.
 */
function vclusterPodsStoppedBySleep(
  plane: ControlPlane,
  hostPods: readonly V1Pod[],
  managedPods: readonly { namespace: string; pods: readonly V1Pod[] }[],
  excludeLabels: Readonly<Record<string, string>>,
): { priced: V1Pod[]; toDelete: { namespace: string; names: string[] }[] } {
  const labels = (p: V1Pod) => p.metadata?.labels ?? {};
  const exclusions = Object.entries(excludeLabels);
  // A selector's matchLabels: every pair must match; an empty one excludes nothing here.
  const excluded = (p: V1Pod) => exclusions.length > 0 && exclusions.every(([k, v]) => labels(p)[k] === v);
  const ofRelease = (p: V1Pod) => labels(p).release === plane.release;
  const controlPlanePods = hostPods.filter(
    (p) =>
      ofRelease(p) &&
      (labels(p).app === "vcluster" ||
        (plane.kind === "Deployment" && COMPANION_APPS.has(labels(p).app ?? ""))),
  );
  const synced = hostPods.filter((p) => labels(p)[SYNCED_POD_LABEL] === plane.release && !excluded(p));
  const managed = managedPods.map((group) => ({ ...group, pods: group.pods.filter((p) => !excluded(p)) }));
  // A pod already being deleted stays listed (Terminating) for its grace period; deleting it again would
  // repeat the DELETE on every step of the pass (up to MAX_STEPS_PER_PASS) and keep a settled sleep writing.
  const names = (pods: readonly V1Pod[]) =>
    pods
      .filter((p) => !p.metadata?.deletionTimestamp)
      .map((p) => p.metadata?.name ?? "")
      .filter((name) => name !== "")
      .sort();
  return {
    priced: [...controlPlanePods, ...synced, ...managed.flatMap((group) => group.pods)],
    toDelete: [
      { namespace: plane.meta.namespace, names: names(synced) },
      ...managed.map((group) => ({ namespace: group.namespace, names: names(group.pods) })),
    ],
  };
}

export async function evaluateNamespace(
  kube: KubeClient,
  config: AgentConfig,
  namespace: NamespaceObject,
  now: number,
): Promise<Evaluated> {
  const name = namespace.meta.name;
  const annotations = namespace.meta.annotations;
  const { policy, errors } = resolvePolicy(
    { kind: "namespace", objectAnnotations: annotations },
    config.policy,
  );
  const recordedState = parseRecordedState(annotations);
  const allErrors = [...errors, ...recordedState.errors];
  // A namespace nobody opted in (and that Slumber never put to sleep) is no target whatever it holds:
  // its workloads and pods are not read, so the cache neither lists nor keeps them (issue 9). One that
  // slept before (`saved-total` is written by every wake) is still read after an opt-out: a workload whose
  // restore failed keeps its recorded count after the namespace's record closed, and must still be woken.
  const relevant =
    policy.managed ||
    allErrors.length > 0 ||
    isNamespaceAsleep(namespace) ||
    annotations[BookkeepingAnnotations.savedTotal] !== undefined;
  const [workloads, pods] = relevant
    ? await Promise.all([kube.listWorkloads(name), kube.listPods(name)])
    : [[], []];
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
    // Only what sleep stops is priced (not excluded workloads, DaemonSets, bare pods or running Jobs).
    hourlyCost: hourlyCostInEffect(
      policy,
      annotations,
      podsHourlyCost(podsStoppedBySleep(pods, sleepableWorkloads(workloads)), config.prices),
    ),
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

/**
 * The same evaluation for a target that has left the managed set whatever its annotations say (its namespace
 * is excluded, or now hosts a virtual cluster): unmanaged, so what Slumber put to sleep is woken and then let go.
 * Its annotations' errors no longer matter: nothing of its policy is applied.
 */
export function unmanagedBecause<E extends Evaluated>(e: E, reason: string): E {
  return {
    ...e,
    policy: { ...e.policy, managed: false, managedReason: reason },
    errors: [],
    decision: { state: "unmanaged", reason, next: null },
  };
}

/** A vcluster control plane lives here: the namespace's annotations configure that vcluster, it is no target itself. */
export const hostsControlPlane = (workloads: readonly Workload[]): boolean =>
  workloads.some((w) => w.meta.labels.app === "vcluster" && w.meta.labels.release !== undefined);

/** The `--cost-labels` of a target: a vcluster's control plane labels win over its host Namespace's. */
export function costLabelsOf(evaluated: Evaluated, keys: readonly string[]): Record<string, string> {
  const own = evaluated.kind === "vcluster" ? evaluated.plane.meta.labels : {};
  const inherited = evaluated.namespace.meta.labels;
  const values: Record<string, string> = {};
  for (const key of keys) {
    const value = own[key] ?? inherited[key];
    if (value !== undefined) values[key] = value;
  }
  return values;
}

export function viewOf(
  evaluated: Evaluated,
  now: number,
  currency: string,
  extraErrors: PolicyError[] = [],
  costLabelKeys: readonly string[] = [],
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
    costLabels: costLabelsOf(evaluated, costLabelKeys),
  };
  const unfinished =
    evaluated.kind === "namespace" ? unfinishedWorkloads(evaluated.namespace, evaluated.workloads) : "";
  if (unfinished !== "") view.reason = `${view.reason}; ${unfinished}`;
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
