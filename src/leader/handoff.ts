// A follower's wake proxy hands activity and wakes to the leader through the API: it records
// `slumber.dev/last-activity` on the control plane, which is what the leader's own wake path would record;
// the leader's informers see the change and its policy wakes the cluster. A follower never writes replicas.
import type { Clock } from "../clock.js";
import type { KubeClient } from "../kube/types.js";
import type { Logger } from "../log.js";
import { Annotations } from "../policy/annotations.js";
import type { ActivitySource, ClusterRef, WakePort } from "../proxy/port.js";
import { ACTIVITY_WRITE_INTERVAL_MS } from "../targets/activity.js";
import { formatTimestamp, parseTimestamp } from "../targets/bookkeeping.js";
import { controlPlaneRef } from "../targets/vcluster.js";

/** A held request asks again at most this often (the leader needs a moment to act on the first). */
const WAKE_REQUEST_INTERVAL_MS = 5_000;

export class FollowerWakePort implements WakePort {
  /** Per cluster: when this replica last wrote, and whether a write is in flight. */
  private readonly written = new Map<string, { at: number; inFlight: boolean }>();

  constructor(
    private readonly kube: KubeClient,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  requestWake(ref: ClusterRef, at: number, source: ActivitySource): void {
    void this.record(ref, at, source, WAKE_REQUEST_INTERVAL_MS);
  }

  recordActivity(ref: ClusterRef, at: number, source: ActivitySource): void {
    void this.record(ref, at, source, ACTIVITY_WRITE_INTERVAL_MS);
  }

  /** Writes last-activity = `at` unless written less than `minIntervalMs` ago; only ever moves it forward. */
  private async record(ref: ClusterRef, at: number, source: ActivitySource, minIntervalMs: number) {
    const key = `${ref.namespace}/${ref.name}`;
    const last = this.written.get(key);
    const now = this.clock.now();
    if (last && (last.inFlight || now - last.at < minIntervalMs)) return;
    this.written.set(key, { at: now, inFlight: true });
    try {
      const plane = await this.kube.getControlPlane(ref.namespace, ref.name);
      if (!plane) return;
      const recorded = parseTimestamp(plane.meta.annotations[Annotations.lastActivity]);
      const stamp = Math.floor(at / 1000) * 1000;
      if (recorded !== null && stamp <= recorded) return;
      await this.kube.patch(controlPlaneRef(plane), {
        annotations: {
          [Annotations.lastActivity]: formatTimestamp(stamp),
          [Annotations.lastActivitySource]: source,
        },
        // Guarded: a concurrent write (the leader's, another follower's) wins; the next request retries.
        resourceVersion: plane.meta.resourceVersion,
      });
    } catch (err) {
      this.logger.warn(
        { vcluster: key, err: (err as Error).message },
        "could not hand the activity to the leader; the next request retries",
      );
      this.written.delete(key);
      return;
    } finally {
      const entry = this.written.get(key);
      if (entry) entry.inFlight = false;
    }
  }

  /** Clusters this replica wrote for are forgotten when they leave the route table. */
  forget(ref: ClusterRef): void {
    this.written.delete(`${ref.namespace}/${ref.name}`);
  }
}

/** The leader's own reconciler while leading; the API hand-off otherwise. */
export function leaderAwareWakePort(isLeader: () => boolean, leader: WakePort, follower: WakePort): WakePort {
  return {
    requestWake: (ref, at, source) => (isLeader() ? leader : follower).requestWake(ref, at, source),
    recordActivity: (ref, at, source) => (isLeader() ? leader : follower).recordActivity(ref, at, source),
  };
}
