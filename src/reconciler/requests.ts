// What the CLI needs without a running agent: views computed from the cluster, and `slumber wake/sleep`
// requests written as annotations that the agent (or a one-off reconcile) then acts on.
import { pino } from "pino";
import type { AgentConfig } from "../config/types.js";
import type { KubeClient, ObjectRef } from "../kube/types.js";
import { Annotations } from "../policy/annotations.js";
import { formatTimestamp } from "../targets/bookkeeping.js";
import { namespaceRef } from "../targets/namespace.js";
import type { TargetRef, TargetView } from "../targets/types.js";
import { controlPlaneRef } from "../targets/vcluster.js";
import { nullObserver } from "./observer.js";
import { Reconciler } from "./reconciler.js";

/** A reconciler that decides and reports but never writes: what `slumber status` sees. */
function readOnlyReconciler(kube: KubeClient, config: AgentConfig, now: number): Reconciler {
  return new Reconciler({
    kube,
    config: { ...config, dryRun: true },
    clock: { now: () => now },
    observer: nullObserver,
    logger: pino({ level: "silent" }),
  });
}

/** Every target's view, computed from the cluster as the agent would (no writes). */
export async function listTargetViews(
  kube: KubeClient,
  config: AgentConfig,
  now: number,
): Promise<TargetView[]> {
  const reconciler = readOnlyReconciler(kube, config, now);
  await reconciler.reconcileAll();
  return reconciler
    .views()
    .sort((a, b) => `${a.namespace}/${a.name}/${a.kind}`.localeCompare(`${b.namespace}/${b.name}/${b.kind}`));
}

/** One target's view (no writes); null when it does not exist or is no target. */
export async function inspectTarget(
  kube: KubeClient,
  config: AgentConfig,
  ref: TargetRef,
  now: number,
): Promise<TargetView | null> {
  return readOnlyReconciler(kube, config, now).reconcileTarget(ref);
}

/**
 * `NS/NAME` (already split by the CLI) → a target. The rule: a vcluster when a control plane labelled
 * `app=vcluster,release=NAME` exists in namespace NS; else a namespace target when NS === NAME and that
 * namespace exists. Throws with the reason when neither matches.
 */
export async function resolveTargetRef(
  kube: KubeClient,
  namespace: string,
  name: string,
): Promise<TargetRef> {
  if (await kube.getControlPlane(namespace, name)) return { kind: "vcluster", namespace, name };
  if (namespace === name && (await kube.getNamespace(name)))
    return { kind: "namespace", namespace: name, name };
  throw new Error(
    namespace !== name
      ? `target "${namespace}/${name}": no vcluster control plane (app=vcluster,release=${name}) in namespace ${namespace}`
      : `target "${namespace}/${name}": no vcluster ${name} in namespace ${namespace} and no namespace ${name}`,
  );
}

/** The object holding a target's annotations: the control plane, or the Namespace. */
async function recordObject(kube: KubeClient, ref: TargetRef): Promise<ObjectRef> {
  if (ref.kind === "namespace") return namespaceRef(ref.name);
  const plane = await kube.getControlPlane(ref.namespace, ref.name);
  if (!plane) throw new Error(`vcluster ${ref.namespace}/${ref.name}: no control plane found`);
  return controlPlaneRef(plane);
}

/**
 * `slumber wake`: a deliberate wake now (last-wake = now, manual-sleep cleared), or with `forMs` a
 * `force: awake` until now + forMs. A previous force is replaced.
 */
export function requestWake(kube: KubeClient, ref: TargetRef, now: number, forMs?: number): Promise<void> {
  return request(kube, ref, "awake", now, forMs, {
    [Annotations.lastWake]: formatTimestamp(now),
    [Annotations.manualSleep]: null,
  });
}

/** `slumber sleep`: a sleep event now (manual-sleep = now), or with `forMs` a `force: asleep` until now + forMs. */
export function requestSleep(kube: KubeClient, ref: TargetRef, now: number, forMs?: number): Promise<void> {
  return request(kube, ref, "asleep", now, forMs, { [Annotations.manualSleep]: formatTimestamp(now) });
}

/** Writes a request on the target's record object: `event` now, or a force for `forMs`. */
async function request(
  kube: KubeClient,
  ref: TargetRef,
  state: "awake" | "asleep",
  now: number,
  forMs: number | undefined,
  event: Record<string, string | null>,
): Promise<void> {
  const annotations: Record<string, string | null> =
    forMs === undefined
      ? { ...event, [Annotations.force]: null, [Annotations.forceUntil]: null }
      : { [Annotations.force]: state, [Annotations.forceUntil]: formatTimestamp(now + forMs) };
  await kube.patch(await recordObject(kube, ref), { annotations });
}
