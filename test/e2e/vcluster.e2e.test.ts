// Virtual clusters on a real control plane, with the agent running as its ServiceAccount.
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  type Admin,
  type AgentProcess,
  adminClients,
  createVcluster,
  eventReasons,
  idleForHours,
  metricsText,
  namespaces,
  readStatefulSet,
  slumberCli,
  startAgent,
  syncedPodCount,
  vclusterAsleep,
  waitFor,
} from "./harness.js";

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

let admin: Admin;
let agent: AgentProcess;
const scenarioNamespaces = namespaces(() => admin);
const hostNamespace = (prefix: string) => scenarioNamespaces.create(prefix);
const asleep = (ns: string, name: string) => vclusterAsleep(admin, ns, name);
const idle = idleForHours();

beforeAll(async () => {
  admin = adminClients(inject("adminKubeconfig"));
  agent = await startAgent({ kubeconfig: inject("agentKubeconfig") });
});

afterAll(async () => {
  await agent?.stop();
  await scenarioNamespaces.removeAll();
});

describe("virtual clusters", () => {
  it("sleeps an idle virtual cluster: pause annotations first, replicas 0, synced pods deleted", async () => {
    const ns = await hostNamespace("vc-idle");
    // Not managed until it runs, so the agent cannot scale it down before its pod is up.
    await createVcluster(admin, { namespace: ns, name: "team-a", replicas: 1, syncedPods: 2 });
    await waitFor("the control plane to run (PVC bound, kwok pod ready)", 90_000, async () => {
      const sts = await readStatefulSet(admin, ns, "team-a");
      return (sts.status?.readyReplicas ?? 0) >= 1;
    });
    await admin.apps.patchNamespacedStatefulSet(
      {
        namespace: ns,
        name: "team-a",
        body: { metadata: { annotations: { "slumber.dev/sleep-after": "30m", ...idle } } },
      },
      mergePatch,
    );

    const sts = await waitFor("team-a asleep", 60_000, asleep(ns, "team-a"));
    const a = sts.metadata?.annotations ?? {};
    expect(a["loft.sh/paused-replicas"]).toBe("1");
    expect(Date.parse(a["loft.sh/paused-date"] ?? "")).not.toBeNaN();
    expect(a["slumber.dev/sleep-reason"]).toBe("inactivity");
    expect(Number(a["slumber.dev/hourly-cost"])).toBeGreaterThan(0);
    await waitFor(
      "synced pods deleted",
      30_000,
      async () => (await syncedPodCount(admin, ns, "team-a")) === 0,
    );
    expect(await eventReasons(admin, ns, "team-a")).toContain("Sleeping");

    const metrics = await waitFor("asleep gauge", 20_000, async () => {
      const text = await metricsText(agent);
      return (
        text.includes(`slumber_target_asleep{kind="vcluster",namespace="${ns}",name="team-a"} 1`) && text
      );
    });
    // One sleep, counted once (the informers' first events and the first full pass must not both act).
    expect(metrics).toContain(
      `slumber_transitions_total{kind="vcluster",namespace="${ns}",name="team-a",to="asleep",reason="inactivity"} 1\n`,
    );
  });

  it("sleeps on schedule: a sleep-schedule event after the last use", async () => {
    const ns = await hostNamespace("vc-sched");
    await createVcluster(admin, {
      namespace: ns,
      name: "nightly",
      annotations: { "slumber.dev/sleep-schedule": "0 * * * *", ...idle },
    });
    const sts = await waitFor("nightly asleep", 60_000, asleep(ns, "nightly"));
    expect(sts.metadata?.annotations?.["slumber.dev/sleep-reason"]).toBe("schedule");
  });

  it("reads vCluster Platform annotations and the vc-config config.yaml", async () => {
    const ns = await hostNamespace("vc-compat");
    await createVcluster(admin, {
      namespace: ns,
      name: "platform",
      annotations: { "sleepmode.loft.sh/sleep-after": "60", ...idle },
    });
    await createVcluster(admin, {
      namespace: ns,
      name: "configured",
      annotations: idle,
      configYaml: "sleep:\n  auto:\n    afterInactivity: 1m\n",
    });
    await waitFor("platform asleep", 60_000, asleep(ns, "platform"));
    await waitFor("configured asleep", 60_000, asleep(ns, "configured"));
  });

  it("never scales down a control plane without persistent data, and says why", async () => {
    const ns = await hostNamespace("vc-ephemeral");
    await createVcluster(admin, {
      namespace: ns,
      name: "ephemeral",
      persistent: false,
      annotations: { "slumber.dev/sleep-after": "1m", ...idle },
    });
    await waitFor("a policy error metric for ephemeral", 30_000, async () =>
      (await metricsText(agent)).includes(
        `slumber_policy_errors{kind="vcluster",namespace="${ns}",name="ephemeral"} 1`,
      ),
    );
    const sts = await readStatefulSet(admin, ns, "ephemeral");
    expect(sts.spec?.replicas).toBe(1);
    expect(sts.metadata?.annotations?.["loft.sh/paused"]).toBeUndefined();
    expect((await eventReasons(admin, ns, "ephemeral")).length).toBeGreaterThan(0);
  });

  it("a Deployment control plane sleeps only when an administrator vouches for its data", async () => {
    const ns = await hostNamespace("vc-deploy");
    await createVcluster(admin, {
      namespace: ns,
      name: "stateless",
      controlPlane: "Deployment",
      annotations: { "slumber.dev/sleep-after": "30m", ...idle },
    });
    await createVcluster(admin, {
      namespace: ns,
      name: "vouched",
      controlPlane: "Deployment",
      replicas: 2,
      annotations: { "slumber.dev/sleep-after": "30m", "slumber.dev/persistent": "true", ...idle },
    });
    const readDeployment = (name: string) => admin.apps.readNamespacedDeployment({ namespace: ns, name });
    const vouched = await waitFor("vouched asleep", 60_000, async () => {
      const d = await readDeployment("vouched");
      return d.spec?.replicas === 0 && d.metadata?.annotations?.["loft.sh/paused"] === "true" ? d : false;
    });
    expect(vouched.metadata?.annotations?.["loft.sh/paused-replicas"]).toBe("2");
    await waitFor("a policy error for stateless", 30_000, async () =>
      (await metricsText(agent)).includes(
        `slumber_policy_errors{kind="vcluster",namespace="${ns}",name="stateless"} 1`,
      ),
    );
    const stateless = await readDeployment("stateless");
    expect(stateless.spec?.replicas).toBe(1);
    expect(stateless.metadata?.annotations?.["loft.sh/paused"]).toBeUndefined();

    await slumberCli(inject("agentKubeconfig"), "wake", `${ns}/vouched`, "--timeout", "120s");
    expect((await readDeployment("vouched")).spec?.replicas).toBe(2);
  });

  it("leaves excluded and malformed targets exactly as they are", async () => {
    const ns = await hostNamespace("vc-leave");
    await createVcluster(admin, {
      namespace: ns,
      name: "excluded",
      annotations: { "slumber.dev/sleep-after": "1m", "slumber.dev/exclude": "true", ...idle },
    });
    await createVcluster(admin, {
      namespace: ns,
      name: "typo",
      annotations: { "slumber.dev/sleep-after": "soon", ...idle },
    });
    await waitFor("an Event on typo naming the bad annotation", 30_000, async () => {
      const events = await admin.core.listNamespacedEvent({ namespace: ns });
      return events.items.some(
        (e) =>
          e.involvedObject?.name === "typo" &&
          /slumber\.dev\/sleep-after/.test(e.message ?? "") &&
          /soon/.test(e.message ?? ""),
      );
    });
    // Several resync periods later, neither was touched.
    await new Promise((r) => setTimeout(r, 6_000));
    for (const name of ["excluded", "typo"]) {
      const sts = await readStatefulSet(admin, ns, name);
      expect(sts.spec?.replicas, name).toBe(1);
      expect(sts.metadata?.annotations?.["loft.sh/paused"], name).toBeUndefined();
    }
  });

  it("wakes with `slumber wake`, restoring the replica count, then undoes a GitOps revert on a later sleep", async () => {
    const ns = await hostNamespace("vc-wake");
    await createVcluster(admin, {
      namespace: ns,
      name: "dev",
      replicas: 2,
      annotations: { "slumber.dev/sleep-after": "30m", ...idle },
    });
    await waitFor("dev asleep", 60_000, asleep(ns, "dev"));

    await slumberCli(inject("agentKubeconfig"), "wake", `${ns}/dev`, "--timeout", "120s");
    const woken = await readStatefulSet(admin, ns, "dev");
    expect(woken.spec?.replicas).toBe(2);
    expect(woken.metadata?.annotations?.["loft.sh/paused"]).toBeUndefined();
    expect(woken.metadata?.annotations?.["loft.sh/paused-replicas"]).toBeUndefined();
    expect(Date.parse(woken.metadata?.annotations?.["slumber.dev/last-wake"] ?? "")).toBeGreaterThan(
      Date.now() - 180_000,
    );

    // A manual sleep, then a GitOps tool restores replicas while the pause is still recorded.
    await slumberCli(inject("agentKubeconfig"), "sleep", `${ns}/dev`, "--timeout", "120s");
    await waitFor("dev asleep again", 60_000, asleep(ns, "dev"));
    await admin.apps.patchNamespacedStatefulSet(
      { namespace: ns, name: "dev", body: { spec: { replicas: 2 } } },
      mergePatch,
    );
    await waitFor("the revert undone", 30_000, asleep(ns, "dev"));
    const after = await readStatefulSet(admin, ns, "dev");
    expect(after.metadata?.annotations?.["loft.sh/paused-replicas"]).toBe("2");
  });

  it("respects a `vcluster resume` as a deliberate wake and counts it as use", async () => {
    const ns = await hostNamespace("vc-resume");
    await createVcluster(admin, {
      namespace: ns,
      name: "resumed",
      replicas: 1,
      annotations: { "slumber.dev/sleep-after": "30m", ...idle },
    });
    await waitFor("resumed asleep", 60_000, asleep(ns, "resumed"));
    const before = Date.now();
    // What `vcluster resume` does: restore paused-replicas and clear the annotations in one merge patch.
    await admin.apps.patchNamespacedStatefulSet(
      {
        namespace: ns,
        name: "resumed",
        body: {
          metadata: {
            annotations: {
              "loft.sh/paused": null,
              "loft.sh/paused-replicas": null,
              "loft.sh/paused-date": null,
            },
          },
          spec: { replicas: 1 },
        },
      },
      mergePatch,
    );
    await waitFor("last-wake recorded for the resume", 30_000, async () => {
      const sts = await readStatefulSet(admin, ns, "resumed");
      return Date.parse(sts.metadata?.annotations?.["slumber.dev/last-wake"] ?? "") >= before - 1000;
    });
    await new Promise((r) => setTimeout(r, 6_000));
    const sts = await readStatefulSet(admin, ns, "resumed");
    expect(sts.spec?.replicas).toBe(1);
    expect(sts.metadata?.annotations?.["loft.sh/paused"]).toBeUndefined();
  });
});
