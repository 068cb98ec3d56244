import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { ApiServerKubeClient } from "../../src/kube/client.js";
import { writeGate } from "../../src/kube/retry.js";
import { KubeError } from "../../src/kube/types.js";
import { fenceWrites, WRITE_OPERATIONS } from "../../src/leader/fence.js";
import { Annotations } from "../../src/policy/annotations.js";
import { Reconciler } from "../../src/reconciler/reconciler.js";
import { FakeClock, ManualTimers, recordingObserver, T0, testConfig } from "../fakes/harness.js";
import { FakeKube } from "../fakes/kube.js";

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

function idleVcluster(): FakeKube {
  const kube = new FakeKube();
  kube.addControlPlane({
    namespace: "vc-a",
    release: "a",
    replicas: 2,
    annotations: { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0 - 2 * HOUR) },
  });
  kube.addPod(
    "vc-a",
    "web-x-default-x-a",
    { "vcluster.loft.sh/managed-by": "a" },
    { cpu: "1", memory: "1Gi" },
  );
  return kube;
}

describe("fenceWrites", () => {
  it("refuses every write while not the leader, before it reaches the API server, naming the object", async () => {
    const kube = idleVcluster();
    const fenced = fenceWrites(kube, () => false);
    const ref = { kind: "StatefulSet" as const, namespace: "vc-a", name: "a" };
    await expect(fenced.patch(ref, { replicas: 0 })).rejects.toThrow(
      "patch StatefulSet vc-a/a: refused: this replica is not the leader",
    );
    await expect(fenced.deletePod("vc-a", "web-x-default-x-a")).rejects.toBeInstanceOf(KubeError);
    await expect(
      fenced.recordEvent({ regarding: ref, type: "Normal", reason: "Sleeping", action: "Sleep", note: "" }),
    ).rejects.toThrow(/create Event about StatefulSet vc-a\/a: refused/);
    expect(kube.writes).toEqual([]);
    expect(kube.events).toEqual([]);
    expect(kube.controlPlane("vc-a", "a").replicas).toBe(2);
  });

  it("passes reads through for followers and writes for the leader", async () => {
    const kube = idleVcluster();
    let leader = false;
    const fenced = fenceWrites(kube, () => leader);
    expect((await fenced.listControlPlanes()).map((p) => p.release)).toEqual(["a"]);
    expect(await fenced.getNamespace("vc-a")).not.toBeNull();
    leader = true;
    await fenced.patch({ kind: "StatefulSet", namespace: "vc-a", name: "a" }, { annotations: { x: "1" } });
    expect(kube.writes).toHaveLength(1);
  });

  it("runs each write inside the write gate, so the client asks again before a 429 retry", async () => {
    const kube = idleVcluster();
    let leader = true;
    const gate = () => leader;
    const seen: (string | boolean | undefined)[] = [];
    const observed = new Proxy(kube, {
      get(target, property, receiver) {
        const member = Reflect.get(target, property, receiver);
        if (typeof member !== "function") return member;
        return (...args: unknown[]) => {
          const store = writeGate.getStore();
          seen.push(String(property), store === undefined ? undefined : store());
          return member.apply(target, args);
        };
      },
    });
    const fenced = fenceWrites(observed, gate);
    const ref = { kind: "StatefulSet" as const, namespace: "vc-a", name: "a" };
    await fenced.listControlPlanes();
    await fenced.patch(ref, { annotations: { x: "1" } });
    await fenced.deletePod("vc-a", "web-x-default-x-a");
    await fenced.recordEvent({
      regarding: ref,
      type: "Normal",
      reason: "Sleeping",
      action: "Sleep",
      note: "",
    });
    expect(seen).toEqual([
      "listControlPlanes",
      undefined,
      "patch",
      true,
      "deletePod",
      true,
      "recordEvent",
      true,
    ]);
    // The gate is live: a retry after the lease was lost mid-write sees it closed.
    const losing = fenceWrites(
      new Proxy(kube, {
        get: (target, property, receiver) =>
          property === "patch"
            ? async () => {
                leader = false;
                return writeGate.getStore()?.();
              }
            : Reflect.get(target, property, receiver),
      }),
      gate,
    );
    expect(await losing.patch(ref, {})).toBe(false);
  });

  it("classifies every operation of the real API client as a read or a write", () => {
    // The real client, not the fake: the fake also has test controls (deleteWorkload, ...).
    const operations = Object.getOwnPropertyNames(ApiServerKubeClient.prototype).filter(
      (name) =>
        name !== "constructor" &&
        ["list", "get", "read", "watch", "patch", "delete", "record", "create", "update"].some((prefix) =>
          name.startsWith(prefix),
        ),
    );
    const writes = operations.filter((name) => /^(patch|delete|record|create|update)/.test(name));
    expect(writes.sort()).toEqual([...WRITE_OPERATIONS].sort());
  });

  it("a reconciler on a follower's fenced client decides but never scales; as leader it does", async () => {
    const kube = idleVcluster();
    let leader = false;
    const clock = new FakeClock(T0);
    const observer = recordingObserver();
    const reconciler = new Reconciler({
      kube: fenceWrites(kube, () => leader),
      config: testConfig(),
      clock,
      observer,
      logger: pino({ level: "silent" }),
      timers: new ManualTimers(clock),
    });
    await reconciler.reconcileAll();
    expect(kube.writes).toEqual([]);
    expect(kube.controlPlane("vc-a", "a").replicas).toBe(2);
    expect(observer.transitions).toEqual([]);
    leader = true;
    await reconciler.reconcileAll();
    expect(kube.controlPlane("vc-a", "a").replicas).toBe(0);
    expect(observer.transitions).toEqual([{ key: "vcluster/vc-a/a", to: "asleep", reason: "inactivity" }]);
  });
});
