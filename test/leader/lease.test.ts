import { V1MicroTime } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { leaseRecord } from "../../src/kube/lease.js";

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
