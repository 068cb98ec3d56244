// The leader-election Lease (coordination.k8s.io/v1) on the API server: get, create, update — the
// only three verbs the Role in deploy/base/rbac.yaml grants on it, and only on this one name.
import {
  ApiException,
  CoordinationV1Api,
  type KubeConfig,
  type V1Lease,
  V1MicroTime,
} from "@kubernetes/client-node";
import type { LeaseRecord, LeaseStore, StoredLease } from "../leader/election.js";
import { makeApiClient, networkDetail } from "./client.js";
import { KubeError } from "./types.js";

/** The Lease every replica of one installation competes for. */
export const LEASE_NAME = "slumber";

/**
 * How long one Lease request may take: the election's renew deadline (10 s). A renew counts from when its
 * attempt was sent, so a request slower than the deadline cannot make its attempt count anyway; a faster
 * one may use what a slow get left (client-go bounds the whole renew by that deadline too, not each
 * request by a share of it). Without a timeout a hung API server held the attempt for undici's 300 s:
 * writes stopped at the deadline (isLeader reads the clock) but the loss was noticed, logged and acted on
 * (exit 1) only minutes later.
 */
export const LEASE_REQUEST_TIMEOUT_MS = 10_000;

/** client-node 2.x hands MicroTime back as the string it received (its serializer does not know the type). */
function millis(value: unknown): number {
  if (value instanceof Date) return value.getTime();
  if (typeof value === "string") {
    const ms = Date.parse(value);
    if (Number.isFinite(ms)) return ms;
  }
  return 0;
}

export function leaseRecord(lease: V1Lease): LeaseRecord {
  const spec = lease.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? "",
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: millis(spec.acquireTime),
    renewTime: millis(spec.renewTime),
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
}

function leaseSpec(record: LeaseRecord): V1Lease["spec"] {
  return {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    acquireTime: new V1MicroTime(record.acquireTime),
    renewTime: new V1MicroTime(record.renewTime),
    leaseTransitions: record.leaseTransitions,
  };
}

export class ApiServerLeaseStore implements LeaseStore {
  private readonly api: CoordinationV1Api;
  readonly description: string;

  constructor(
    kubeConfig: KubeConfig,
    private readonly namespace: string,
    private readonly name: string = LEASE_NAME,
    timeoutMs: number = LEASE_REQUEST_TIMEOUT_MS,
  ) {
    this.api = makeApiClient(kubeConfig, CoordinationV1Api, timeoutMs);
    this.description = `${namespace}/${name}`;
  }

  private async call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const object = `Lease ${this.description}`;
      if (err instanceof ApiException) throw new KubeError(operation, object, err.code, String(err.body));
      throw new KubeError(operation, object, undefined, networkDetail(err));
    }
  }

  private stored(lease: V1Lease): StoredLease {
    return { record: leaseRecord(lease), resourceVersion: lease.metadata?.resourceVersion ?? "" };
  }

  async get(): Promise<StoredLease | null> {
    try {
      const lease = await this.call("get", () =>
        this.api.readNamespacedLease({ namespace: this.namespace, name: this.name }),
      );
      return this.stored(lease);
    } catch (err) {
      if (err instanceof KubeError && err.code === 404) return null;
      throw err;
    }
  }

  async create(record: LeaseRecord): Promise<StoredLease> {
    const lease = await this.call("create", () =>
      this.api.createNamespacedLease({
        namespace: this.namespace,
        body: { metadata: { name: this.name, namespace: this.namespace }, spec: leaseSpec(record) },
      }),
    );
    return this.stored(lease);
  }

  async update(record: LeaseRecord, resourceVersion: string): Promise<StoredLease> {
    const lease = await this.call("update", () =>
      this.api.replaceNamespacedLease({
        namespace: this.namespace,
        name: this.name,
        body: {
          metadata: { name: this.name, namespace: this.namespace, resourceVersion },
          spec: leaseSpec(record),
        },
      }),
    );
    return this.stored(lease);
  }
}
