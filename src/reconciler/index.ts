// The reconciler's public surface (agent and CLI).
export { type Evaluated, evaluateNamespace, evaluateVcluster } from "./evaluate.js";
export { nullObserver, type ReconcileObserver } from "./observer.js";
export { Reconciler, type ReconcilerDeps, systemTimers, type Timers } from "./reconciler.js";
export { inspectTarget, listTargetViews, requestSleep, requestWake, resolveTargetRef } from "./requests.js";
