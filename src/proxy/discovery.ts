// Discovery (`/api`, `/apis`, `/version`) kept while a cluster is awake and answered from memory while it
// wakes: kubectl's discovery gives up after 32 s, long before a cold control plane is ready.
import { pathOnly } from "./route.js";

export const DISCOVERY_PATHS = new Set(["/api", "/apis", "/version"]);

interface Kept {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

/** Per cluster, per path and `Accept` (aggregated discovery and the legacy form differ). */
export class DiscoveryCache {
  private readonly clusters = new Map<string, Map<string, Kept>>();
  /** Paths × Accept values kept per cluster; more are not stored. */
  private static readonly PER_CLUSTER = 32;

  static isDiscovery(method: string, upstreamPath: string): boolean {
    return (method === "GET" || method === "HEAD") && DISCOVERY_PATHS.has(pathOnly(upstreamPath));
  }

  private static entryKey(upstreamPath: string, accept: string | undefined): string {
    return `${pathOnly(upstreamPath)} ${accept ?? ""}`;
  }

  get(cluster: string, upstreamPath: string, accept: string | undefined): Kept | undefined {
    return this.clusters.get(cluster)?.get(DiscoveryCache.entryKey(upstreamPath, accept));
  }

  keep(cluster: string, upstreamPath: string, accept: string | undefined, answer: Kept): void {
    let entries = this.clusters.get(cluster);
    if (!entries) {
      entries = new Map();
      this.clusters.set(cluster, entries);
    }
    const key = DiscoveryCache.entryKey(upstreamPath, accept);
    if (!entries.has(key) && entries.size >= DiscoveryCache.PER_CLUSTER) return;
    entries.set(key, answer);
  }

  forget(cluster: string): void {
    this.clusters.delete(cluster);
  }

  /** Clusters with answers kept, for tests. */
  get size(): number {
    return this.clusters.size;
  }
}
