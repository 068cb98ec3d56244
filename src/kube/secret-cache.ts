// Secrets the wake proxy reads on the request path (`NAME-certs`), kept in memory: the first use of a
// name starts a watch on that one Secret; afterwards every read is served from memory, and the watch
// keeps it current (a rotated CA, a deleted Secret). No API call per request in steady state.
import type { KubeClient, SecretData, WatchHandle } from "./types.js";

interface Entry {
  data: SecretData | null;
  /** Bumped on every change, so parsed forms can be memoized. */
  version: number;
  synced: Promise<void>;
  handle: WatchHandle;
}

export class SecretCache {
  private readonly entries = new Map<string, Entry>();
  constructor(private readonly kube: KubeClient) {}

  /**
   * The Secret's data (null when absent), waiting for the first read only. `known` is false while no read
   * has succeeded yet (the API server was unreachable): `data` is then null without meaning "absent".
   */
  async get(
    namespace: string,
    name: string,
  ): Promise<{ data: SecretData | null; version: number; known: boolean }> {
    const key = `${namespace}/${name}`;
    let entry = this.entries.get(key);
    if (!entry) {
      const created: Entry = {
        data: null,
        version: 0,
        synced: Promise.resolve(),
        handle: undefined as never,
      };
      created.handle = this.kube.watchSecret(namespace, name, (data) => {
        created.data = data;
        created.version++;
      });
      created.synced = created.handle.synced;
      entry = created;
      this.entries.set(key, entry);
    }
    await entry.synced;
    return { data: entry.data, version: entry.version, known: entry.version > 0 };
  }

  /** Stops following a Secret (its cluster is no longer routed). */
  forget(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    void entry.handle.stop();
  }

  /** Secrets followed (one watch each), for tests. */
  get size(): number {
    return this.entries.size;
  }

  async stop(): Promise<void> {
    const handles = [...this.entries.values()].map((entry) => entry.handle.stop());
    this.entries.clear();
    await Promise.all(handles);
  }
}
