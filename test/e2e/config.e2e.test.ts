// Cluster-wide policy from the agent's --config file: `manage: all`, `defaults:`, `excludeNamespaces:`.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  type Admin,
  type AgentProcess,
  adminClients,
  createVcluster,
  idleForHours,
  namespaces,
  readStatefulSet,
  startAgent,
  vclusterAsleep,
  waitFor,
} from "./harness.js";

let admin: Admin;
let agent: AgentProcess;
const scenarioNamespaces = namespaces(() => admin);

beforeAll(async () => {
  admin = adminClients(inject("adminKubeconfig"));
  agent = await startAgent({
    kubeconfig: inject("agentKubeconfig"),
    config: [
      "manage: all",
      "defaults:",
      "  sleep-after: 30m",
      "excludeNamespaces:",
      "  - kube-system",
      "  - kube-public",
      '  - "skip-.*"',
      "",
    ].join("\n"),
  });
});
afterAll(async () => {
  await agent?.stop();
  await scenarioNamespaces.removeAll();
});

describe("cluster-wide defaults", () => {
  it("manages every virtual cluster without annotations, except in excluded namespaces and opted-out ones", async () => {
    const managed = await scenarioNamespaces.create("cfg");
    const skipped = await scenarioNamespaces.create("skip");
    // Only recorded use, no policy annotation: the config file's defaults decide.
    await createVcluster(admin, { namespace: managed, name: "by-default", annotations: idleForHours() });
    await createVcluster(admin, {
      namespace: managed,
      name: "opted-out",
      annotations: { ...idleForHours(), "slumber.dev/enabled": "false" },
    });
    await createVcluster(admin, { namespace: skipped, name: "elsewhere", annotations: idleForHours() });

    const asleep = await waitFor("by-default asleep", 60_000, vclusterAsleep(admin, managed, "by-default"));
    expect(asleep.metadata?.annotations?.["slumber.dev/sleep-reason"]).toBe("inactivity");
    await new Promise((r) => setTimeout(r, 5_000));
    for (const [ns, name] of [
      [managed, "opted-out"],
      [skipped, "elsewhere"],
    ] as const) {
      const sts = await readStatefulSet(admin, ns, name);
      expect(sts.spec?.replicas, name).toBe(1);
      expect(sts.metadata?.annotations?.["loft.sh/paused"], name).toBeUndefined();
    }
  });
});
