// HA: two agents (as the deploy/ ServiceAccount, --leader-elect) against the real control plane.
// The leader is SIGKILLed; the follower takes over Lease slumber/slumber; the next transition happens
// exactly once across both agents' /metrics; a wake recorded through the API (what a follower's proxy
// does) is carried out by the leader; a SIGTERMed leader releases the Lease for a fast handover.

import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CoordinationV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  V1MicroTime,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  type Admin,
  AGENT_NAMESPACE,
  type AgentProcess,
  adminClients,
  metricsText,
  namespaces,
  slumberCli,
  startAgent,
  waitFor,
} from "./harness.js";

let admin: Admin;
let leases: CoordinationV1Api;
const agents: AgentProcess[] = [];
const scenarioNamespaces = namespaces(() => admin);

/** The scenario's namespace: the only one these agents manage, so they never act on other scenarios'. */
let ns = "";
const electing = async () => {
  const agent = await startAgent({
    kubeconfig: inject("agentKubeconfig"),
    extraArgs: ["--leader-elect"],
    config: `excludeNamespaces: ["(?!${ns}$).*"]\n`,
  });
  agents.push(agent);
  return agent;
};
const leading = (agent: AgentProcess) => agent.logs().includes('"msg":"leader election: leading"');
const following = (agent: AgentProcess) => agent.logs().includes('"msg":"leader election: following"');
/** The identity an agent logged when it started campaigning. */
const identityOf = (agent: AgentProcess): string => {
  const line = agent
    .logs()
    .split("\n")
    .find((l) => l.includes("leader election: starting"));
  return (JSON.parse(line!) as { identity: string }).identity;
};
const holder = async () =>
  (await leases.readNamespacedLease({ namespace: AGENT_NAMESPACE, name: "slumber" })).spec ?? {};

/** Sum of slumber_transitions_total for targets in `namespace` on one agent. */
async function transitions(agent: AgentProcess, namespace: string): Promise<number> {
  return (await metricsText(agent))
    .split("\n")
    .filter((l) => l.startsWith("slumber_transitions_total{") && l.includes(`namespace="${namespace}"`))
    .reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
}

beforeAll(async () => {
  admin = adminClients(inject("adminKubeconfig"));
  const kc = new KubeConfig();
  kc.loadFromFile(inject("adminKubeconfig"));
  leases = kc.makeApiClient(CoordinationV1Api);
  // A Lease left by an earlier run would only delay the first election by a lease duration.
  await leases.deleteNamespacedLease({ namespace: AGENT_NAMESPACE, name: "slumber" }).catch(() => undefined);
  ns = process.env.SLUMBER_E2E_HA_NAMESPACE ?? (await scenarioNamespaces.create("ha"));
  // A namespace target in use (not idle), so only the requests below make it change state.
  await admin.apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name: "ha-web" },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: "ha-web" } },
        template: {
          metadata: { labels: { app: "ha-web" } },
          spec: { containers: [{ name: "web", image: "nginx" }] },
        },
      },
    },
  });
  await admin.core.patchNamespace(
    { name: ns, body: { metadata: { annotations: { "slumber.dev/sleep-after": "30m" } } } },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
});
afterAll(async () => {
  if (process.env.SLUMBER_E2E_VERBOSE) {
    for (const [i, agent] of agents.entries())
      writeFileSync(join(tmpdir(), `slumber-ha-agent-${i}.log`), agent.logs());
  }
  for (const agent of agents) await agent.kill();
  await scenarioNamespaces.removeAll();
  if (process.env.SLUMBER_E2E_HA_NAMESPACE) {
    // A borrowed namespace: leave it as it was.
    await admin.apps.deleteNamespacedDeployment({ namespace: ns, name: "ha-web" }).catch(() => undefined);
    const annotations = (await admin.core.readNamespace({ name: ns })).metadata?.annotations ?? {};
    const ours = Object.fromEntries(
      Object.keys(annotations)
        .filter((k) => k.startsWith("slumber.dev/"))
        .map((k) => [k, null]),
    );
    await admin.core.patchNamespace(
      { name: ns, body: { metadata: { annotations: ours } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
  }
});

describe("leader election (two agents, Lease slumber/slumber)", () => {
  it("fails over after SIGKILL, and the next transition happens exactly once across both agents", async () => {
    const a = await electing();
    await waitFor("agent A leading", 30_000, async () => leading(a));
    const b = await electing();
    await waitFor("agent B following", 30_000, async () => following(b));
    expect(leading(b)).toBe(false);
    expect((await holder()).holderIdentity).toBe(identityOf(a));
    // A follower is ready: it serves /metrics (and the proxy) without reconciling.
    expect((await fetch(`http://127.0.0.1:${b.metricsPort}/readyz`)).status).toBe(200);

    await a.kill();
    const killedAt = Date.now();
    await waitFor("agent B to take over", 45_000, async () => leading(b));
    const takeoverMs = Date.now() - killedAt;
    // Nobody released the Lease: B waits out the lease duration (15 s) it last saw renewed.
    expect(takeoverMs).toBeGreaterThan(10_000);
    const lease = await holder();
    expect(lease.holderIdentity).toBe(identityOf(b));
    expect(lease.leaseTransitions).toBeGreaterThanOrEqual(1);

    // A comes back (as Kubernetes would restart it) and follows.
    const a2 = await electing();
    await waitFor("restarted agent A following", 30_000, async () => following(a2));
    await waitFor("agent B ready as leader", 60_000, async () => {
      return (await fetch(`http://127.0.0.1:${b.metricsPort}/readyz`)).status === 200;
    });

    // The next transition: `slumber sleep` (a request written through the API), carried out by the new leader.
    await slumberCli(inject("agentKubeconfig"), "sleep", `${ns}/${ns}`, "--timeout", "90s");
    expect(
      (await admin.apps.readNamespacedDeployment({ namespace: ns, name: "ha-web" })).spec?.replicas,
    ).toBe(0);
    // Several resyncs (2 s each) later, still exactly one count, all on the leader.
    await new Promise((r) => setTimeout(r, 8_000));
    expect({ leader: await transitions(b, ns), follower: await transitions(a2, ns) }).toEqual({
      leader: 1,
      follower: 0,
    });

    // A wake recorded through the API (slumber.dev/last-wake, what a follower's proxy writes via the same
    // request path as `slumber wake`) is carried out by the leader.
    await slumberCli(inject("agentKubeconfig"), "wake", `${ns}/${ns}`, "--timeout", "90s");
    expect(
      (await admin.apps.readNamespacedDeployment({ namespace: ns, name: "ha-web" })).spec?.replicas,
    ).toBe(2);
    expect({ leader: await transitions(b, ns), follower: await transitions(a2, ns) }).toEqual({
      leader: 2,
      follower: 0,
    });

    // SIGTERM: the leader releases the Lease on its way out, so the follower takes over at its next
    // retry (2 s) rather than after a lease duration.
    await b.stop();
    expect(b.child.exitCode).toBe(0);
    const stoppedAt = Date.now();
    await waitFor("restarted agent A to take over after the release", 15_000, async () => leading(a2));
    expect(Date.now() - stoppedAt).toBeLessThan(8_000);
    expect((await holder()).holderIdentity).toBe(identityOf(a2));
    await a2.stop();
    expect(a2.child.exitCode).toBe(0);
    expect((await holder()).holderIdentity).toBe("");
  });

  it("a leader whose Lease is taken stops and exits 1 well within the lease duration", async () => {
    await leases
      .deleteNamespacedLease({ namespace: AGENT_NAMESPACE, name: "slumber" })
      .catch(() => undefined);
    const x = await electing();
    await waitFor("agent leading", 30_000, async () => leading(x));
    // Someone else holds the Lease now (as after a partition in which it expired and was taken).
    const lease = await leases.readNamespacedLease({ namespace: AGENT_NAMESPACE, name: "slumber" });
    await leases.replaceNamespacedLease({
      namespace: AGENT_NAMESPACE,
      name: "slumber",
      body: {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: "intruder",
          leaseDurationSeconds: 60,
          renewTime: new V1MicroTime(),
        },
      },
    });
    const takenAt = Date.now();
    await waitFor("the agent to exit", 15_000, async () => x.child.exitCode !== null);
    expect(Date.now() - takenAt).toBeLessThan(15_000);
    expect(x.child.exitCode).toBe(1);
    expect(x.logs()).toContain("stopping: this replica lost the lease");
    // It released nothing it no longer held.
    expect((await holder()).holderIdentity).toBe("intruder");
    await leases.deleteNamespacedLease({ namespace: AGENT_NAMESPACE, name: "slumber" });
  });
});
