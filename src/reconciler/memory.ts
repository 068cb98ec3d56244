// What the agent remembers about each target between passes. Everything is keyed by target and goes in
// one `forget`: a host that creates and deletes thousands of preview namespaces must not grow.
import type { ActivitySource } from "../proxy/port.js";
import type { TargetView } from "../targets/types.js";
import { ActivityBaselines } from "./activity.js";

export class TargetMemory {
  /** The last published view of each target (status, metrics, `slumber status`). */
  readonly views = new Map<string, TargetView>();
  /** Wake decision time per target, until it is ready (wake duration, synced-pod settling). */
  readonly pendingWakes = new Map<string, number>();
  /** Activity reported by the wake proxy, written by the target's next pass. */
  readonly pendingActivity = new Map<string, { at: number; source: ActivitySource }>();
  /** Workload specs (namespaces) and synced pods (vclusters) as last recorded: their changes are use. */
  readonly activity = new ActivityBaselines();
  /** Last reported error signature per target and topic: one Event per distinct error, not one per pass. */
  private readonly reported = new Map<string, Map<string, string>>();

  noteActivity(key: string, at: number, source: ActivitySource): void {
    const known = this.pendingActivity.get(key);
    if (!known || at > known.at) this.pendingActivity.set(key, { at, source });
  }

  /** Records `signature` for the target's `topic`; false when it was already the one reported. */
  report(key: string, topic: string, signature: string): boolean {
    const topics = this.reported.get(key) ?? new Map<string, string>();
    if (topics.get(topic) === signature) return false;
    topics.set(topic, signature);
    this.reported.set(key, topics);
    return true;
  }

  /** The topic's error is gone: the next occurrence is reported again. */
  clearReport(key: string, topic: string): void {
    const topics = this.reported.get(key);
    if (!topics) return;
    topics.delete(topic);
    if (topics.size === 0) this.reported.delete(key);
  }

  forget(key: string): void {
    this.views.delete(key);
    this.pendingWakes.delete(key);
    this.pendingActivity.delete(key);
    this.reported.delete(key);
    this.activity.forget(key);
  }

  /** Entries per map, for tests and the memory benchmark. */
  sizes(): Record<string, number> {
    return {
      views: this.views.size,
      pendingWakes: this.pendingWakes.size,
      pendingActivity: this.pendingActivity.size,
      reported: this.reported.size,
      ...this.activity.sizes(),
    };
  }
}
