// Recording use as `slumber.dev/last-activity` on the object holding a target's state (Namespace or
// control plane), at most once per ACTIVITY_WRITE_INTERVAL_MS (SPEC §7's rate).
import { describeRef, type ObjectMeta, type ObjectRef } from "../kube/types.js";
import { Annotations } from "../policy/annotations.js";
import { formatTimestamp, parseTimestamp } from "./bookkeeping.js";
import type { Step } from "./steps.js";

export const ACTIVITY_WRITE_INTERVAL_MS = 60_000;

/** The write recording use now, or null when last-activity was written less than a minute ago. */
export function planLastActivity(ref: ObjectRef, meta: ObjectMeta, now: number, what: string): Step | null {
  const last = parseTimestamp(meta.annotations[Annotations.lastActivity]);
  if (last !== null && now - last < ACTIVITY_WRITE_INTERVAL_MS) return null;
  return {
    action: "patch",
    purpose: "activity",
    ref,
    patch: {
      annotations: {
        [Annotations.lastActivity]: formatTimestamp(now),
        [Annotations.lastActivitySource]: "workload",
      },
      resourceVersion: meta.resourceVersion,
    },
    note: `${describeRef(ref)}: ${what} changed outside Slumber; recorded as activity`,
  };
}
