// Fault injection (issue 9, item 4), for both target kinds and both directions:
// - the agent stopped after write N, for every N of a sleep and of a wake, then a fresh Reconciler
//   started over the same cluster state;
// - an API error (409, 429, 500, a timeout before the request is sent, and a timeout after the
//   server applied it) on each call of a sleep and of a wake, with the same agent carrying on.
// Each run must end in exactly the state of an uninterrupted run (every count back, the same
// bookkeeping), with at most one transition each way. This extends the sleep-only crash tests in
// namespace.test.ts and vcluster.test.ts to wakes, to errors on reads and Events, and to the
// whole final state rather than the counts alone.
import { ApiException } from "@kubernetes/client-node";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { type CallContext, call } from "../../src/kube/client.js";
import { DEFAULT_RETRY } from "../../src/kube/retry.js";
import { type KubeClient, KubeError } from "../../src/kube/types.js";
import { Annotations } from "../../src/policy/annotations.js";
import { Reconciler } from "../../src/reconciler/reconciler.js";
import { FakeClock, ManualTimers, recordingObserver, T0, testConfig } from "../fakes/harness.js";
import { FakeKube } from "../fakes/kube.js";

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");
const SLEEP_AT = T0 + HOUR;
const WAKE_AT = T0 + 3 * HOUR;
/** A pass that meets an error gives up on the target until the next pass; this many always converge. */
const PASSES = 4;

type Kind = "namespace" | "vcluster";

function seed(kind: Kind): FakeKube {
  const kube = new FakeKube();
  const policy = { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0) };
  if (kind === "namespace") {
    kube.addNamespace("team", policy);
    kube.addWorkload("team", "Deployment", "web", { replicas: 3 });
    kube.addWorkload("team", "StatefulSet", "db", { replicas: 1 });
    kube.addWorkload("team", "Deployment", "idle", { replicas: 0 });
    kube.addWorkload("team", "Deployment", "pinned", {
      replicas: 2,
      annotations: { [Annotations.exclude]: "true" },
    });
    kube.addWorkload("team", "CronJob", "report", { suspend: false });
    kube.addWorkload("team", "Deployment", "worker", { replicas: 4 });
    kube.addWorkload("team", "ScaledObject", "worker", {
      scaleTarget: { kind: "Deployment", name: "worker" },
    });
  } else {
    kube.addControlPlane({ namespace: "vc-a", release: "a", replicas: 3, annotations: policy });
    for (const pod of ["web-x-default-x-a", "db-x-default-x-a"]) {
      kube.addPod("vc-a", pod, { "vcluster.loft.sh/managed-by": "a" }, { cpu: "1", memory: "1Gi" });
    }
  }
  return kube;
}

/** Everything a sleep or wake may change: counts, suspends, annotations, synced pods. */
function snapshot(kube: FakeKube) {
  return structuredClone({
    namespaces: [...kube.namespaces.values()].map((ns) => ({
      name: ns.meta.name,
      annotations: ns.meta.annotations,
    })),
    planes: [...kube.controlPlanes.values()].map((p) => ({
      name: p.meta.name,
      replicas: p.replicas,
      annotations: p.meta.annotations,
    })),
    workloads: [...kube.workloads.values()].map((w) => ({
      kind: w.kind,
      name: w.meta.name,
      replicas: w.replicas,
      suspend: w.suspend,
      annotations: w.meta.annotations,
    })),
    pods: [...kube.pods.keys()].sort(),
  });
}

/** The deliberate wake (`slumber wake`): last-wake = now on the target. */
function requestWake(kube: FakeKube, kind: Kind, at: number): void {
  const ref =
    kind === "namespace"
      ? ({ kind: "Namespace", namespace: "team", name: "team" } as const)
      : ({ kind: "StatefulSet", namespace: "vc-a", name: "a" } as const);
  kube.externalPatch(ref, { annotations: { [Annotations.lastWake]: iso(at) } });
}

/** One agent over the cluster at `at` (talking through `client`): `passes` full passes; its transitions. */
async function runAgent(kube: FakeKube, at: number, passes = PASSES, client: KubeClient = kube) {
  const clock = new FakeClock(at);
  const observer = recordingObserver();
  const reconciler = new Reconciler({
    kube: client,
    config: testConfig(),
    clock,
    observer,
    logger: pino({ level: "silent" }),
    timers: new ManualTimers(clock),
  });
  for (let i = 0; i < passes; i++) await reconciler.reconcileAll();
  return observer.transitions;
}

/** The uninterrupted run: state after the sleep, and after the wake, and the transitions. */
async function reference(kind: Kind) {
  const kube = seed(kind);
  const sleepTransitions = await runAgent(kube, SLEEP_AT);
  const asleep = snapshot(kube);
  requestWake(kube, kind, WAKE_AT);
  const woken = snapshot(kube);
  const wakeTransitions = await runAgent(kube, WAKE_AT);
  return { asleep, beforeWake: woken, awake: snapshot(kube), sleepTransitions, wakeTransitions };
}

const count = (transitions: { to: string }[], to: string) => transitions.filter((t) => t.to === to).length;

describe.each<Kind>(["namespace", "vcluster"])("fault injection: %s target", (kind) => {
  it("the uninterrupted run sleeps and wakes once and restores every count", async () => {
    const ref = await reference(kind);
    expect(count(ref.sleepTransitions, "asleep")).toBe(1);
    expect(count(ref.wakeTransitions, "awake")).toBe(1);
    const original = snapshot(seed(kind));
    if (kind === "namespace") {
      expect(ref.awake.workloads.map((w) => [w.name, w.replicas, w.suspend])).toEqual(
        original.workloads.map((w) => [w.name, w.replicas, w.suspend]),
      );
      expect(ref.asleep.workloads.find((w) => w.name === "web")?.replicas).toBe(0);
    } else {
      expect(ref.asleep.planes[0]?.replicas).toBe(0);
      expect(ref.awake.planes[0]?.replicas).toBe(3);
    }
  });

  it("stopped after write N of the sleep, for every N, a restarted agent ends where an uninterrupted one does", async () => {
    const ref = await reference(kind);
    const probe = seed(kind);
    await runAgent(probe, SLEEP_AT, 1);
    const writes = probe.writes.length;
    expect(writes).toBeGreaterThan(1);
    for (let n = 1; n <= writes; n++) {
      const kube = seed(kind);
      kube.crashAfterWrites(n);
      const crashed = await runAgent(kube, SLEEP_AT, 1);
      kube.revive();
      const restarted = await runAgent(kube, SLEEP_AT);
      expect(snapshot(kube), `stopped before write ${n} of ${writes}`).toEqual(ref.asleep);
      expect(count([...crashed, ...restarted], "asleep"), `stopped before write ${n}`).toBe(1);
      expect(count([...crashed, ...restarted], "awake"), `stopped before write ${n}`).toBe(0);
    }
  });

  it("stopped after write N of the wake, for every N, a restarted agent ends where an uninterrupted one does", async () => {
    const ref = await reference(kind);
    const asleep = () => {
      const kube = seed(kind);
      return runAgent(kube, SLEEP_AT).then(() => {
        requestWake(kube, kind, WAKE_AT);
        kube.clearWrites();
        return kube;
      });
    };
    const probe = await asleep();
    await runAgent(probe, WAKE_AT, 1);
    const writes = probe.writes.length;
    expect(writes).toBeGreaterThan(0);
    for (let n = 1; n <= writes; n++) {
      const kube = await asleep();
      kube.crashAfterWrites(n);
      const crashed = await runAgent(kube, WAKE_AT, 1);
      kube.revive();
      const restarted = await runAgent(kube, WAKE_AT);
      expect(snapshot(kube), `stopped before write ${n} of ${writes}`).toEqual(ref.awake);
      expect(count([...crashed, ...restarted], "awake"), `stopped before write ${n}`).toBe(1);
      expect(count([...crashed, ...restarted], "asleep"), `stopped before write ${n}`).toBe(0);
    }
  });
});

type Failure = 409 | 429 | 500 | "timeout" | "timeout-after-apply";
const FAILURES: Failure[] = [409, 429, 500, "timeout", "timeout-after-apply"];
const CALLS = [
  "listControlPlanes",
  "getControlPlane",
  "listNamespaces",
  "getNamespace",
  "listWorkloads",
  "listPods",
  "deletePod",
  "readVclusterConfig",
  "patch",
  "recordEvent",
] as const;

/**
 * The fake behind a client whose `at`-th call (counting every call above) fails, after the real
 * client's retries gave up (no Retry-After: the 429 below is one the client could not wait out).
 * `timeout-after-apply` lets the call reach the fake first, as when the server applied a write
 * whose answer was lost.
 */
function failingCall(
  kube: FakeKube,
  at: number,
  failure: Failure,
): { client: KubeClient; calls: () => number } {
  let calls = 0;
  const client = new Proxy(kube, {
    get(target, property, receiver) {
      const member = Reflect.get(target, property, receiver);
      if (typeof member !== "function" || !(CALLS as readonly (string | symbol)[]).includes(property))
        return member;
      return async (...args: unknown[]) => {
        calls++;
        if (calls !== at) return member.apply(target, args);
        const operation = String(property);
        if (failure === "timeout-after-apply") {
          await member.apply(target, args);
          throw new KubeError(
            operation,
            "injected",
            undefined,
            "request timed out after it was sent (injected)",
          );
        }
        if (failure === "timeout")
          throw new KubeError(operation, "injected", undefined, "request timed out (injected)");
        throw new KubeError(operation, "injected", failure, "injected");
      };
    },
  });
  return { client, calls: () => calls };
}

describe.each<Kind>(["namespace", "vcluster"])("injected API errors: %s target", (kind) => {
  it.each(FAILURES)(
    "%s on each call of a sleep and of a wake: converges, no duplicate transition",
    async (failure) => {
      const ref = await reference(kind);
      for (const phase of ["sleep", "wake"] as const) {
        const start = async () => {
          const kube = seed(kind);
          if (phase === "wake") {
            await runAgent(kube, SLEEP_AT);
            requestWake(kube, kind, WAKE_AT);
          }
          return kube;
        };
        const at = phase === "sleep" ? SLEEP_AT : WAKE_AT;
        const expected = phase === "sleep" ? ref.asleep : ref.awake;
        const probe = await start();
        const counting = failingCall(probe, 0, failure);
        await runAgent(probe, at, PASSES, counting.client);
        const total = counting.calls();
        expect(total).toBeGreaterThan(0);
        for (let n = 1; n <= total; n++) {
          const kube = await start();
          const { client } = failingCall(kube, n, failure);
          const transitions = await runAgent(kube, at, PASSES, client);
          const label = `${failure} on call ${n} of ${total} (${phase})`;
          expect(snapshot(kube), label).toEqual(expected);
          const want = phase === "sleep" ? "asleep" : "awake";
          const other = phase === "sleep" ? "awake" : "asleep";
          expect(count(transitions, want), label).toBeLessThanOrEqual(1);
          expect(count(transitions, other), label).toBe(0);
          // Only a write the server applied but the agent never heard back about may go unreported.
          if (failure !== "timeout-after-apply") expect(count(transitions, want), label).toBe(1);
        }
      }
    },
  );
});

/** What ApiServerKubeClient names each call (its verb decides what may be retried: src/kube/retry.ts). */
const VERB: Record<(typeof CALLS)[number], string> = {
  listControlPlanes: "list",
  getControlPlane: "list StatefulSets of",
  listNamespaces: "list",
  getNamespace: "get",
  listWorkloads: "list",
  listPods: "list",
  deletePod: "delete",
  readVclusterConfig: "get",
  patch: "patch",
  recordEvent: "create Event about",
};
const WRITES: readonly string[] = ["patch", "deletePod", "recordEvent"];

/**
 * The fake behind the real client's request path (`call` in src/kube/client.ts: retries, Retry-After,
 * KubeError): the API server answers the `at`-th write (and the `times - 1` attempts after it) with 429
 * and `Retry-After: 1` without processing it, as API Priority and Fairness does. Waits are recorded.
 */
function throttledWrite(kube: FakeKube, at: number, times = 1) {
  const sleeps: number[] = [];
  const context: CallContext = {
    retry: { ...DEFAULT_RETRY, sleep: async (ms) => void sleeps.push(ms), now: () => SLEEP_AT },
  };
  let writes = 0;
  let throttled = 0;
  const client = new Proxy(kube, {
    get(target, property, receiver) {
      const member = Reflect.get(target, property, receiver);
      if (typeof member !== "function" || !(CALLS as readonly (string | symbol)[]).includes(property))
        return member;
      const name = property as (typeof CALLS)[number];
      const isWrite = WRITES.includes(name);
      return (...args: unknown[]) => {
        if (isWrite) writes++;
        const thisWrite = writes;
        return call(context, VERB[name], `${name} (injected)`, async () => {
          if (isWrite && thisWrite === at && throttled < times) {
            throttled++;
            throw new ApiException(
              429,
              "Unknown API Status Code!",
              '{"kind":"Status","message":"too many requests","reason":"TooManyRequests","code":429}',
              { "retry-after": "1", "content-type": "application/json" },
            );
          }
          return member.apply(target, args);
        });
      };
    },
  });
  return { client, sleeps, throttled: () => throttled, writes: () => writes };
}

describe.each<Kind>(["namespace", "vcluster"])("429 with Retry-After on a write: %s target", (kind) => {
  it("the client waits and repeats it: the sleep completes in the same pass, once, with every count kept", async () => {
    const ref = await reference(kind);
    const probe = seed(kind);
    await runAgent(probe, SLEEP_AT, 1);
    const writes = probe.writes.length + probe.events.length;
    expect(writes).toBeGreaterThan(2);
    for (const times of [1, 2]) {
      for (let n = 1; n <= writes; n++) {
        const label = `429 ×${times} on write ${n} of ${writes}`;
        const kube = seed(kind);
        const throttled = throttledWrite(kube, n, times);
        // One pass: no later pass gets to make up for it, the retry alone does.
        const transitions = await runAgent(kube, SLEEP_AT, 1, throttled.client);
        expect(throttled.throttled(), label).toBe(times);
        expect(throttled.sleeps, label).toEqual(Array(times).fill(1_000));
        expect(snapshot(kube), label).toEqual(ref.asleep);
        expect(count(transitions, "asleep"), label).toBe(1);
        expect(
          kube.events.filter((e) => e.reason === "Sleeping"),
          label,
        ).toHaveLength(1);
        // Later passes change nothing and report nothing.
        expect(await runAgent(kube, SLEEP_AT, PASSES - 1, throttled.client), label).toEqual([]);
        expect(
          kube.events.filter((e) => e.reason === "Sleeping"),
          label,
        ).toHaveLength(1);
        // No count was lost: the wake restores the original ones.
        requestWake(kube, kind, WAKE_AT);
        await runAgent(kube, WAKE_AT);
        expect(snapshot(kube), label).toEqual(ref.awake);
      }
    }
  });
});
