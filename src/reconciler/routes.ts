// The wake proxy's route table, kept by the reconciler from its own passes (informer-driven), so the
// proxy routes from memory. Only managed virtual clusters are routes.
import type { ControlPlane } from "../kube/types.js";
import { Annotations } from "../policy/annotations.js";
import type { ClusterRoute, RouteSource } from "../proxy/port.js";
import { routeKey } from "../proxy/port.js";
import { isPaused } from "../targets/vcluster.js";

/** `https://NAME.NS.svc:443`, or the control plane's `slumber.dev/upstream` (never read from a Namespace). */
export function upstreamOf(plane: ControlPlane): { upstream: string | null; error?: string } {
  const annotated = plane.meta.annotations[Annotations.upstream];
  if (annotated === undefined)
    return { upstream: `https://${plane.release}.${plane.meta.namespace}.svc:443` };
  const url = URL.canParse(annotated) ? new URL(annotated) : null;
  const plain =
    url !== null && url.protocol === "https:" && url.pathname === "/" && !url.search && !url.username;
  if (!url || !plain)
    return {
      upstream: null,
      error: `${Annotations.upstream}="${annotated}" on ${plane.kind} ${plane.meta.namespace}/${plane.meta.name} is not an https:// URL without a path`,
    };
  return { upstream: url.origin };
}

export function routeOf(plane: ControlPlane, ignoreUserAgents: readonly string[]): ClusterRoute {
  const { upstream, error } = upstreamOf(plane);
  const asleep = isPaused(plane);
  const route: ClusterRoute = {
    namespace: plane.meta.namespace,
    name: plane.release,
    upstream,
    asleep,
    ready: !asleep && plane.replicas > 0 && plane.readyReplicas >= 1,
    ignoreUserAgents,
  };
  if (error) route.upstreamError = error;
  return route;
}

const sameRoute = (a: ClusterRoute, b: ClusterRoute): boolean =>
  a.upstream === b.upstream &&
  a.upstreamError === b.upstreamError &&
  a.asleep === b.asleep &&
  a.ready === b.ready &&
  a.ignoreUserAgents.join(",") === b.ignoreUserAgents.join(",");

export class RouteTable implements RouteSource {
  private readonly routes = new Map<string, ClusterRoute>();
  private readonly listeners = new Set<(namespace: string, name: string) => void>();
  private completed = false;
  private markComplete: () => void = () => {};
  readonly complete = new Promise<void>((resolve) => {
    this.markComplete = resolve;
  });

  isComplete(): boolean {
    return this.completed;
  }

  /** The first pass is done: every managed cluster has had its chance to be published. */
  setComplete(): void {
    this.completed = true;
    this.markComplete();
  }

  get(namespace: string, name: string): ClusterRoute | undefined {
    return this.routes.get(routeKey(namespace, name));
  }

  subscribe(listener: (namespace: string, name: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(route: ClusterRoute): void {
    const key = routeKey(route.namespace, route.name);
    const known = this.routes.get(key);
    if (known && sameRoute(known, route)) return;
    this.routes.set(key, route);
    this.notify(route.namespace, route.name);
  }

  remove(namespace: string, name: string): void {
    if (this.routes.delete(routeKey(namespace, name))) this.notify(namespace, name);
  }

  size(): number {
    return this.routes.size;
  }

  private notify(namespace: string, name: string): void {
    for (const listener of this.listeners) listener(namespace, name);
  }
}
