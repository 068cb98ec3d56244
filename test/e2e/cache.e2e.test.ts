// Issue 9 item 1 on the real API server: at rest the agent makes no LIST (no request at all beyond its
// watches), counted exactly by API Priority and Fairness. The agent runs as a ServiceAccount of its own,
// bound to a copy of deploy/base/rbac.yaml's ClusterRole, with a FlowSchema that matches only that identity, and
// `apiserver_flowcontrol_dispatched_requests_total{flow_schema=...}` is read before and after a quiet minute.
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import {
  type Admin,
  type AgentProcess,
  adminClients,
  ago,
  createVcluster,
  metricsText,
  namespaces,
  startAgent,
  vclusterAsleep,
  waitFor,
} from "./harness.js";

const run = promisify(execFile);
const repoRoot = resolve(import.meta.dirname, "../..");
const suffix = randomBytes(3).toString("hex");
/** Everything this file creates at cluster scope carries this name, so it matches only this agent. */
const identity = `slumber-cache-e2e-${suffix}`;
const QUIET_SECONDS = 60;

function kubectlApply(kubeconfig: string, manifest: string): Promise<void> {
  return new Promise((res, rej) => {
    const child = spawn("kubectl", ["--kubeconfig", kubeconfig, "apply", "-f", "-"], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.on("exit", (code) => (code === 0 ? res() : rej(new Error(`kubectl apply exited ${code}: ${out}`))));
    child.stdin.end(manifest);
  });
}

async function kubectl(kubeconfig: string, ...args: string[]): Promise<string> {
  const { stdout } = await run("kubectl", ["--kubeconfig", kubeconfig, ...args], { maxBuffer: 64 << 20 });
  return stdout;
}

/** The agent's ClusterRole exactly as deploy/base/rbac.yaml has it, under this file's own name. */
function clusterRoleRules(): unknown {
  const docs = parseAllDocuments(readFileSync(join(repoRoot, "deploy/base/rbac.yaml"), "utf8")).map((d) =>
    d.toJS(),
  );
  const role = docs.find((d) => d?.kind === "ClusterRole");
  if (!role) throw new Error("deploy/base/rbac.yaml has no ClusterRole");
  return role.rules;
}

function identityManifest(): string {
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: identity, namespace: "slumber" } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: identity },
      rules: clusterRoleRules(),
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: identity },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: identity },
      subjects: [{ kind: "ServiceAccount", name: identity, namespace: "slumber" }],
    },
    {
      apiVersion: "flowcontrol.apiserver.k8s.io/v1",
      kind: "FlowSchema",
      metadata: { name: identity },
      spec: {
        // Ahead of the built-in service-account schemas (precedence 9000 and up), so this one counts it.
        matchingPrecedence: 500,
        priorityLevelConfiguration: { name: "workload-low" },
        distinguisherMethod: { type: "ByUser" },
        rules: [
          {
            subjects: [{ kind: "ServiceAccount", serviceAccount: { name: identity, namespace: "slumber" } }],
            resourceRules: [
              { verbs: ["*"], apiGroups: ["*"], resources: ["*"], clusterScope: true, namespaces: ["*"] },
            ],
            nonResourceRules: [{ verbs: ["*"], nonResourceURLs: ["*"] }],
          },
        ],
      },
    },
  ]
    .map((doc) => stringify(doc))
    .join("---\n");
}

/** Requests API Priority and Fairness dispatched for this file's FlowSchema, all priority levels summed. */
async function dispatched(adminKubeconfig: string): Promise<number> {
  const text = await kubectl(adminKubeconfig, "get", "--raw", "/metrics");
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith("apiserver_flowcontrol_dispatched_requests_total{")) continue;
    if (!line.includes(`flow_schema="${identity}"`)) continue;
    total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

const passes = async (agent: AgentProcess): Promise<number> => {
  const line = (await metricsText(agent))
    .split("\n")
    .find((l) => l.startsWith("slumber_reconcile_duration_seconds_count"));
  return Number(line?.split(" ").at(-1) ?? 0);
};

describe("the agent at rest reads from its cache (issue 9)", () => {
  const adminKubeconfig = inject("adminKubeconfig");
  let admin: Admin;
  const ns = namespaces(() => admin);
  let agentKubeconfig: string;
  let agent: AgentProcess | undefined;
  const managed: string[] = [];
  /** The unmanaged namespaces and the vcluster host this file made. */
  const others: string[] = [];
  let host = "";

  beforeAll(async () => {
    admin = adminClients(adminKubeconfig);
    await kubectlApply(adminKubeconfig, identityManifest());
    const token = (
      await kubectl(adminKubeconfig, "-n", "slumber", "create", "token", identity, "--duration=1h")
    ).trim();
    const agentBase = readFileSync(inject("agentKubeconfig"), "utf8");
    agentKubeconfig = join(mkdtempSync(join(tmpdir(), "slumber-cache-e2e-")), "agent.kubeconfig");
    writeFileSync(agentKubeconfig, agentBase.replace(/token: .*/, `token: ${token}`), { mode: 0o600 });

    // Managed namespaces, awake with nothing due for hours; unmanaged ones; a managed virtual cluster.
    const awake = {
      "slumber.dev/enabled": "true",
      "slumber.dev/sleep-after": "8h",
      "slumber.dev/last-wake": ago(60_000),
      "slumber.dev/last-activity": ago(60_000),
    };
    for (let i = 0; i < 5; i++) {
      const name = await ns.create("cache-managed", awake);
      managed.push(name);
      for (const app of ["web", "api"]) {
        await admin.apps.createNamespacedDeployment({
          namespace: name,
          body: {
            metadata: { name: app },
            spec: {
              replicas: 1,
              selector: { matchLabels: { app } },
              template: {
                metadata: { labels: { app } },
                spec: { containers: [{ name: app, image: "nginx" }] },
              },
            },
          },
        });
      }
    }
    for (let i = 0; i < 3; i++) {
      const name = await ns.create("cache-unmanaged");
      others.push(name);
      await admin.apps.createNamespacedDeployment({
        namespace: name,
        body: {
          metadata: { name: "app" },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: "x" } },
            template: {
              metadata: { labels: { app: "x" } },
              spec: { containers: [{ name: "x", image: "nginx" }] },
            },
          },
        },
      });
    }
    host = await ns.create("cache-vc", { "slumber.dev/enabled": "true" });
    others.push(host);
    await createVcluster(admin, {
      namespace: host,
      name: "vc",
      configYaml: "sleep:\n  auto:\n    afterInactivity: 8h\n",
      annotations: { "slumber.dev/last-wake": ago(60_000), "slumber.dev/last-activity": ago(60_000) },
      syncedPods: 2,
    });
  });

  afterAll(async () => {
    await agent?.stop();
    await ns.removeAll();
    for (const kind of ["flowschema.flowcontrol.apiserver.k8s.io", "clusterrolebinding", "clusterrole"]) {
      await kubectl(adminKubeconfig, "delete", kind, identity, "--ignore-not-found").catch(() => undefined);
    }
    await kubectl(
      adminKubeconfig,
      "-n",
      "slumber",
      "delete",
      "serviceaccount",
      identity,
      "--ignore-not-found",
    ).catch(() => undefined);
  });

  it(`makes no request but its watches in ${QUIET_SECONDS} s at rest, and still acts on a change`, async () => {
    // Other suites share this control plane and create targets of their own: this agent manages only the
    // namespaces this file made, so what it does at rest is its own.
    const own = [...managed, ...others];
    agent = await startAgent({
      kubeconfig: agentKubeconfig, // --resync 2s: a full pass every 2 s
      config: `excludeNamespaces:\n  - ${JSON.stringify(`(?!(${own.join("|")})$).*`)}\n`,
    });
    expect(await dispatched(adminKubeconfig)).toBeGreaterThan(0); // the FlowSchema does see this agent
    // Let the first passes settle (any write they owe), then count.
    await new Promise((r) => setTimeout(r, 5_000));
    const before = await dispatched(adminKubeconfig);
    const passesBefore = await passes(agent);
    await new Promise((r) => setTimeout(r, QUIET_SECONDS * 1000));
    const after = await dispatched(adminKubeconfig);
    const passesDuring = (await passes(agent)) - passesBefore;
    const requests = after - before;
    console.log(
      JSON.stringify({ quiet_seconds: QUIET_SECONDS, agent_requests: requests, full_passes: passesDuring }),
    );
    // ~30 full passes over 6 targets ran; without the cache each LISTed 4-5 kinds per target (~750 requests).
    expect(passesDuring).toBeGreaterThanOrEqual(15);
    // Watches end after 5-10 min and are resumed (one request each); KEDA's absence is re-checked every
    // 5 min. Nothing else: no LIST, no GET.
    expect(requests).toBeLessThanOrEqual(3);

    // The cache is live: a manual sleep written by someone else is seen through the watch and carried out.
    const target = managed[0] ?? "";
    await admin.core.patchNamespace(
      {
        name: target,
        body: { metadata: { annotations: { "slumber.dev/manual-sleep": new Date().toISOString() } } },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    await waitFor(`${target} asleep`, 60_000, async () => {
      const list = await admin.apps.listNamespacedDeployment({ namespace: target });
      return list.items.length === 2 && list.items.every((d) => d.spec?.replicas === 0);
    });
    const untouched = await admin.apps.listNamespacedDeployment({ namespace: managed[1] ?? "" });
    expect(untouched.items.every((d) => d.spec?.replicas === 1)).toBe(true);
    expect(agent.logs()).toContain("cache synced");

    // A changed vc-config reaches the agent through its Secret watch (it is never read again by name):
    // an idle time of 30 s puts the virtual cluster, idle for over a minute, to sleep.
    await admin.core.replaceNamespacedSecret({
      namespace: host,
      name: "vc-config-vc",
      body: {
        metadata: { name: "vc-config-vc", namespace: host },
        stringData: { "config.yaml": "sleep:\n  auto:\n    afterInactivity: 30s\n" },
      },
    });
    await waitFor(`vcluster ${host}/vc asleep`, 60_000, vclusterAsleep(admin, host, "vc"));
  });
});
