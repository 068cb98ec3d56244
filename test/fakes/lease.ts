// An in-memory Lease with the API server's optimistic concurrency: create fails when it exists, update
// fails on a stale resourceVersion. `partition(true)` makes one replica's calls fail like a lost network.

import { KubeError } from "../../src/kube/types.js";
import type { LeaseRecord, LeaseStore, StoredLease } from "../../src/leader/election.js";

export class FakeLeaseServer {
  lease: StoredLease | null = null;
  private version = 0;

  store(): FakeLeaseStore {
    return new FakeLeaseStore(this);
  }

  /** Used by the stores; the server side of each call. */
  get(): StoredLease | null {
    return this.lease ? structuredClone(this.lease) : null;
  }
  create(record: LeaseRecord): StoredLease {
    if (this.lease) throw new KubeError("create", "Lease slumber/slumber", 409, "already exists");
    this.lease = { record: { ...record }, resourceVersion: String(++this.version) };
    return structuredClone(this.lease);
  }
  update(record: LeaseRecord, resourceVersion: string): StoredLease {
    if (!this.lease) throw new KubeError("update", "Lease slumber/slumber", 404, "not found");
    if (this.lease.resourceVersion !== resourceVersion)
      throw new KubeError("update", "Lease slumber/slumber", 409, "the object has been modified");
    this.lease = { record: { ...record }, resourceVersion: String(++this.version) };
    return structuredClone(this.lease);
  }
}

export class FakeLeaseStore implements LeaseStore {
  readonly description = "slumber/slumber";
  private cutOff = false;
  calls = 0;
  constructor(private readonly server: FakeLeaseServer) {}

  partition(cut: boolean): void {
    this.cutOff = cut;
  }
  private async reach<T>(operation: string, fn: () => T): Promise<T> {
    this.calls++;
    await Promise.resolve();
    if (this.cutOff)
      throw new KubeError(operation, "Lease slumber/slumber", undefined, "fetch failed: ECONNREFUSED");
    return fn();
  }
  get() {
    return this.reach("get", () => this.server.get());
  }
  create(record: LeaseRecord) {
    return this.reach("create", () => this.server.create(record));
  }
  update(record: LeaseRecord, resourceVersion: string) {
    return this.reach("update", () => this.server.update(record, resourceVersion));
  }
}
