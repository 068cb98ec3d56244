// Review: SPEC appendix "one failing workload" closes a managed namespace's sleep record even when
// one workload's restore failed. If the namespace is then opted out, evaluateNamespace no longer reads its
// workloads (not managed, not asleep), so that workload keeps original-replicas and stays at 0 for good.
import { describe, expect, it } from "vitest";
import { Annotations } from "../../src/policy/annotations.js";
import { harness, T0 } from "../fakes/harness.js";

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");

describe("managed namespace woken with one failed restore, then opted out", () => {
  it("still restores the workload Slumber left at 0", async () => {
    const h = harness();
    h.kube.addNamespace("team", { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0) });
    h.kube.addWorkload("team", "Deployment", "api", { replicas: 3 });
    h.clock.ms = T0 + HOUR;
    await h.reconciler.reconcileAll();
    const lift = h.kube.denyPatches((ref) => ref.kind === "Deployment" && ref.name === "api");
    h.clock.ms = T0 + 2 * HOUR;
    h.kube.externalPatch(
      { kind: "Namespace", namespace: "team", name: "team" },
      { annotations: { [Annotations.lastWake]: iso(h.clock.ms) } },
    );
    await h.reconciler.reconcileAll();
    h.kube.externalPatch(
      { kind: "Namespace", namespace: "team", name: "team" },
      { annotations: { [Annotations.enabled]: "false" } },
    );
    lift();
    h.clock.ms += 60_000;
    await h.reconciler.reconcileAll();
    expect(h.kube.workload("team", "Deployment", "api").replicas).toBe(3);
  });
});
