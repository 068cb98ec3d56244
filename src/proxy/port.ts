// What the wake proxy needs from the rest of Slumber, and nothing more: the route table the reconciler
// keeps in memory, and a port through which the proxy reports activity and asks for wakes. The proxy
// never writes to the API server itself; the reconciler records both through its own steps.

/** One managed virtual cluster as the proxy routes to it, published by the reconciler after each pass. */
export interface ClusterRoute {
  namespace: string;
  /** The virtual cluster's name (label `release`). */
  name: string;
  /** `https://NAME.NAMESPACE.svc:443`, or the control plane's `slumber.dev/upstream`; null when that is invalid. */
  upstream: string | null;
  /** Why `upstream` is null: names the object and the annotation. */
  upstreamError?: string;
  /** Paused by Slumber or `vcluster pause` (asleep, or a wake not yet started). */
  asleep: boolean;
  /** Not paused and the control plane has a Ready replica (by watch). */
  ready: boolean;
  /** `ignore-user-agents` globs from the resolved policy. */
  ignoreUserAgents: readonly string[];
}

export const routeKey = (namespace: string, name: string): string => `${namespace}/${name}`;

/** The reconciler's in-memory view of routable clusters; no API call behind `get`. */
export interface RouteSource {
  get(namespace: string, name: string): ClusterRoute | undefined;
  /** Called after a route is published or removed; returns the unsubscribe function. */
  subscribe(listener: (namespace: string, name: string) => void): () => void;
  /** Resolves once the reconciler's first pass has published every route (a missing one is then really missing). */
  readonly complete: Promise<void>;
  isComplete(): boolean;
}

/** What a request is, for the bookkeeping annotation `slumber.dev/last-activity-source`. */
export type ActivitySource = "request" | "session";

export interface ClusterRef {
  namespace: string;
  name: string;
}

/** Implemented by the reconciler: activity and wakes go through its normal steps. */
export interface WakePort {
  /** A request is held for this sleeping cluster: record the activity now and wake it. */
  requestWake(ref: ClusterRef, at: number, source: ActivitySource): void;
  /** A request was forwarded; the reconciler writes `last-activity` at most once a minute, only forward. */
  recordActivity(ref: ClusterRef, at: number, source: ActivitySource): void;
}
