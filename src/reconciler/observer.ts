import type { DesiredState, TargetKind } from "../policy/types.js";
import type { TargetRef, TargetView } from "../targets/types.js";

/** What the reconciler reports; the metrics registry implements it, tests record it. */
export interface ReconcileObserver {
  /** Called for each target after each pass (state gauge, cost gauge, time asleep, savings). */
  targetObserved(view: TargetView, now: number): void;
  targetRemoved(ref: TargetRef): void;
  transition(ref: TargetRef, to: DesiredState, reason: string): void;
  /** A wake was performed; the target is waking until `wakeCompleted` (or a sleep) for the same ref. */
  wakeStarted?(ref: TargetRef): void;
  /** Seconds from the wake decision to the control plane / workloads being ready. */
  wakeCompleted(kind: TargetKind, seconds: number, ref?: TargetRef): void;
  loopCompleted(seconds: number): void;
  /** A failed call to the API server; `operation` like `patch StatefulSet`. */
  apiError(operation: string, code: number | undefined): void;
}

export const nullObserver: ReconcileObserver = {
  targetObserved() {},
  targetRemoved() {},
  transition() {},
  wakeCompleted() {},
  loopCompleted() {},
  apiError() {},
};
