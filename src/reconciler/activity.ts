// Activity from the cluster itself (SPEC §3's second signal): what a person or pipeline changed in a
// target's workloads. Each target keeps a baseline of named fingerprints; a difference is use. The new
// baseline is only adopted once the activity write has succeeded, so a 409, a 5xx or a timeout on that
// write leaves the change pending and the next plan sees it again.
import type { ControlPlane, Workload } from "../kube/types.js";
import { isPaused } from "../targets/vcluster.js";

/** After a wake the syncer recreates a virtual cluster's pods; changes this soon after it are the wake's own. */
export const WAKE_SETTLE_MS = 2 * 60_000;

export type Fingerprints = ReadonlyMap<string, string>;

export class ActivityBaselines {
  private readonly seen = new Map<string, Fingerprints>();
  private readonly pending = new Map<string, Fingerprints>();
  /** Until when a target stays quiet after it last could not count (a slow wake settles from when it is ready). */
  private readonly quietUntil = new Map<string, number>();

  /**
   * Compares `current` with the target's baseline. Returns what appeared, changed or went away; those
   * stay pending until `commit`. With `counting` false (asleep, a transition in flight), on first sight, and
   * for `settleMs` after the last pass that could not count, the baseline simply becomes `current`.
   */
  observe(target: string, current: Fingerprints, counting: boolean, now = 0, settleMs = 0): string[] {
    const known = this.seen.get(target);
    this.pending.delete(target);
    if (!counting && settleMs > 0) this.quietUntil.set(target, now + settleMs);
    const quiet = now < (this.quietUntil.get(target) ?? Number.NEGATIVE_INFINITY);
    if (!known || !counting || quiet) {
      this.seen.set(target, current);
      return [];
    }
    const changed = [...current].filter(([name, print]) => known.get(name) !== print).map(([name]) => name);
    const gone = [...known.keys()].filter((name) => !current.has(name)).map((name) => `${name} (gone)`);
    if (changed.length + gone.length === 0) {
      this.seen.set(target, current);
      return [];
    }
    this.pending.set(target, current);
    return [...changed, ...gone];
  }

  /** The activity was recorded (or needs no write): the pending state becomes the baseline. */
  commit(target: string): void {
    const pending = this.pending.get(target);
    if (pending) this.seen.set(target, pending);
    this.pending.delete(target);
  }

  forget(target: string): void {
    this.seen.delete(target);
    this.pending.delete(target);
    this.quietUntil.delete(target);
  }

  sizes(): { activitySeen: number; activityPending: number; activityQuiet: number } {
    return {
      activitySeen: this.seen.size,
      activityPending: this.pending.size,
      activityQuiet: this.quietUntil.size,
    };
  }
}

/** A namespace's workloads by `Kind/name`, fingerprinted without replicas/suspend: autoscaling and sleep are not use. */
export const workloadFingerprints = (workloads: readonly Workload[]): Fingerprints =>
  new Map(workloads.map((w) => [`${w.kind}/${w.meta.name}`, w.specFingerprint]));

/**
 * A virtual cluster's synced pods by UID: a pod appearing or going away is use; a status change is not.
 * Counted only while the control plane runs settled: not stopped (paused, at 0), not waking, ready, and
 * not within WAKE_SETTLE_MS of the last wake or of the end of a stop or wake (the syncer recreating pods
 * is the wake's doing, and the wake is itself use). `transition` tells the caller to start that window.
 */
export function syncedPodCounting(
  plane: ControlPlane,
  lastWake: number | null,
  wakePending: boolean,
  now: number,
): { counting: boolean; transition: boolean } {
  const transition = isPaused(plane) || plane.replicas === 0 || wakePending;
  const settled = lastWake === null || now - lastWake >= WAKE_SETTLE_MS;
  return { counting: !transition && plane.readyReplicas >= 1 && settled, transition };
}
