import { V1MicroTime } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { ApiServerLeaseStore, LEASE_REQUEST_TIMEOUT_MS, leaseRecord } from "../../src/kube/lease.js";
import { KubeError } from "../../src/kube/types.js";
import { LeaderElection } from "../../src/leader/election.js";
import { type FakeHttpApi, json, startFakeHttpApi } from "../fakes/http.js";

describe("leaseRecord (a coordination.k8s.io Lease as the election sees it)", () => {
  it("reads MicroTime as client-node 2.x hands it back: the string the API server sent", () => {
    const record = leaseRecord({
      metadata: { name: "slumber", resourceVersion: "42" },
      spec: {
        holderIdentity: "slumber-7d9f_1a2b3c4d",
        leaseDurationSeconds: 15,
        acquireTime: "2026-11-28T15:29:54.609000Z" as unknown as V1MicroTime,
        renewTime: "2026-11-28T15:30:01.000123Z" as unknown as V1MicroTime,
        leaseTransitions: 3,
      },
    });
    expect(record).toEqual({
      holderIdentity: "slumber-7d9f_1a2b3c4d",
      leaseDurationSeconds: 15,
      acquireTime: Date.parse("2026-11-28T15:29:54.609Z"),
      renewTime: Date.parse("2026-11-28T15:30:01.000Z"),
      leaseTransitions: 3,
    });
  });

  it("accepts Dates too, and treats a Lease without spec as free", () => {
    expect(
      leaseRecord({ spec: { renewTime: new V1MicroTime(1_000), acquireTime: new Date(500) } }),
    ).toMatchObject({
      renewTime: 1_000,
      acquireTime: 500,
    });
    expect(leaseRecord({})).toEqual({
      holderIdentity: "",
      leaseDurationSeconds: 0,
      acquireTime: 0,
      renewTime: 0,
      leaseTransitions: 0,
    });
  });

  it("writes MicroTime with microseconds, as the API server expects", () => {
    expect(JSON.stringify({ t: new V1MicroTime(Date.parse("2026-11-28T15:30:01.123Z")) })).toBe(
      '{"t":"2026-11-28T15:30:01.123000Z"}',
    );
  });
});

const silent = pino({ level: "silent" });

describe("ApiServerLeaseStore against a hung API server", () => {
  let api: FakeHttpApi | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  it("gives up on a request after its timeout, with a KubeError naming the Lease, so a renew fits the deadline", async () => {
    // Never answers reads; answers nothing else either (the store only reads here).
    api = await startFakeHttpApi(() => {});
    const store = new ApiServerLeaseStore(api.kubeConfig, "slumber", "slumber", 200);
    const started = performance.now();
    const err = await store.get().then(
      () => null,
      (e: unknown) => e,
    );
    const ms = performance.now() - started;
    expect(err).toBeInstanceOf(KubeError);
    expect((err as KubeError).message).toContain("Lease slumber/slumber");
    expect(ms).toBeGreaterThanOrEqual(150);
    expect(ms).toBeLessThan(2_200);
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "GET /apis/coordination.k8s.io/v1/namespaces/slumber/leases/slumber",
    ]);
  });

  it("still answers normally (404 is no Lease); by default a request may take the whole renew deadline", async () => {
    api = await startFakeHttpApi((_req, res) => json(res, 404, { kind: "Status", code: 404 }));
    const store = new ApiServerLeaseStore(api.kubeConfig, "slumber");
    await expect(store.get()).resolves.toBeNull();
    expect(LEASE_REQUEST_TIMEOUT_MS).toBe(
      new LeaderElection({ store, identity: "x", logger: silent }).renewDeadlineMs,
    );
  });
});
