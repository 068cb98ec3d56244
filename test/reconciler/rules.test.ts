// The rules are pure: the same evaluated target, time and signals always give the same next writes, and
// nothing is read or written. Evaluated targets come from the fake cluster; the rules never see it.
import { describe, expect, it } from "vitest";
import { Annotations } from "../../src/policy/annotations.js";
import { type Evaluated, evaluateNamespace, evaluateVcluster } from "../../src/reconciler/evaluate.js";
import { type Next, nextStep, type Signals } from "../../src/reconciler/rules.js";
import type { Step } from "../../src/targets/steps.js";
import { T0, testConfig } from "../fakes/harness.js";
import { FakeKube } from "../fakes/kube.js";

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");
const quiet: Signals = { proxyActivity: null, observedActivity: null, failed: new Set(), excluded: false };
const activityStep: Step = {
  action: "patch",
  purpose: "activity",
  ref: { kind: "Namespace", namespace: "t", name: "t" },
  patch: { annotations: { [Annotations.lastActivity]: iso(T0) } },
  note: "activity",
};

async function namespaceTarget(annotations: Record<string, string>, at: number): Promise<Evaluated> {
  const kube = new FakeKube();
  kube.addNamespace("t", annotations);
  kube.addWorkload("t", "Deployment", "web", { replicas: 2 });
  kube.addWorkload("t", "Deployment", "api", { replicas: 1 });
  kube.addWorkload("t", "CronJob", "report", { suspend: false });
  return evaluateNamespace(kube, testConfig(), kube.namespace("t"), at);
}

async function vclusterTarget(annotations: Record<string, string>, at: number): Promise<Evaluated> {
  const kube = new FakeKube();
  // Without volume claims: not persistent unless an administrator vouches for it.
  kube.addControlPlane({ namespace: "vc", release: "a", replicas: 1, annotations, volumeClaims: false });
  return evaluateVcluster(kube, testConfig(), kube.controlPlane("vc", "a"), kube.namespace("vc"), at);
}

/** What a Next says, in a line: the purposes and objects of its writes, or settled/gone. */
function summary(next: Next): string {
  if (next.kind === "gone") return "gone";
  if (next.kind === "settled") return next.report ? `settled: ${next.report.reason}` : "settled";
  return next.steps
    .map((s) => `${s.purpose} ${s.action === "patch" ? `${s.ref.kind}/${s.ref.name}` : "pods"}`)
    .join(", ");
}

const idle = { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0) };

describe("rules: next writes as a pure function of the target, the time and the signals", () => {
  it.each([
    ["namespace, active", "namespace", idle, T0 + 30 * 60_000, quiet, "settled"],
    ["namespace, idle past sleep-after", "namespace", idle, T0 + 2 * HOUR, quiet, "record Namespace/t"],
    [
      "namespace, idle, observed use first",
      "namespace",
      idle,
      T0 + 2 * HOUR,
      { ...quiet, observedActivity: activityStep },
      "activity Namespace/t",
    ],
    [
      "namespace, never used: last-wake now",
      "namespace",
      { [Annotations.sleepAfter]: "1h" },
      T0,
      quiet,
      "activity Namespace/t",
    ],
    [
      "namespace, malformed",
      "namespace",
      { [Annotations.sleepAfter]: "soon" },
      T0,
      quiet,
      "settled: PolicyError",
    ],
    ["namespace, not opted in", "namespace", {}, T0, quiet, "gone"],
    ["namespace, excluded and awake", "namespace", idle, T0 + 2 * HOUR, { ...quiet, excluded: true }, "gone"],
    ["vcluster, active", "vcluster", idle, T0 + 30 * 60_000, quiet, "settled"],
    [
      "vcluster, proxy activity wins over observed",
      "vcluster",
      idle,
      T0 + 2 * HOUR,
      { ...quiet, proxyActivity: activityStep, observedActivity: { ...activityStep, note: "observed" } },
      "activity Namespace/t",
    ],
    ["vcluster, not persistent", "vcluster", idle, T0 + 2 * HOUR, quiet, "settled: NotPersistent"],
    [
      "vcluster, idle and persistent",
      "vcluster",
      { ...idle, [Annotations.persistent]: "true" },
      T0 + 2 * HOUR,
      quiet,
      "record StatefulSet/a",
    ],
  ] as const)("%s", async (_name, kind, annotations, at, signals, expected) => {
    const e =
      kind === "namespace"
        ? await namespaceTarget({ ...annotations }, at)
        : await vclusterTarget({ ...annotations }, at);
    const first = nextStep(e, at, signals);
    expect(summary(first)).toBe(expected);
    // Pure: asked again, the same answer, and the input is untouched.
    const frozen = structuredClone(e);
    expect(nextStep(e, at, signals)).toEqual(first);
    expect(e).toEqual(frozen);
  });

  it("a sleeping namespace's sleep is one wave of every workload; failed ones are skipped", async () => {
    const asleep = {
      ...idle,
      [Annotations.sleepingSince]: iso(T0 + HOUR),
      [Annotations.sleepReason]: "inactivity",
    };
    const e = await namespaceTarget(asleep, T0 + 2 * HOUR);
    expect(summary(nextStep(e, T0 + 2 * HOUR, quiet))).toBe(
      "sleep Deployment/api, sleep Deployment/web, sleep CronJob/report",
    );
    expect(summary(nextStep(e, T0 + 2 * HOUR, { ...quiet, failed: new Set(["Deployment/web"]) }))).toBe(
      "sleep Deployment/api, sleep CronJob/report",
    );
  });
});
