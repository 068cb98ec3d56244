// Issue 6 on a real API server: KEDA counts kept (1), a workload an admission policy freezes does not
// hold the others back (2), an autoscaler's scale is not use while a deploy is (6), and a namespace's
// cost prices only the pods sleep stops, found through real ReplicaSet ownership (8).
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import {
  AdmissionregistrationV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  type Admin,
  type AgentProcess,
  adminClients,
  ago,
  createVcluster,
  eventReasons,
  idleForHours,
  metricsText,
  namespaces,
  slumberCli,
  startAgent,
  waitFor,
} from "./harness.js";

const run = promisify(execFile);
const crd = resolve(import.meta.dirname, "fixtures/keda-scaledobject-crd.yaml");
const keda = { group: "keda.sh", version: "v1alpha1", plural: "scaledobjects" } as const;
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

let admin: Admin;
let agent: AgentProcess;
let custom: CustomObjectsApi;
let admission: AdmissionregistrationV1Api;
const cleanups: Array<() => Promise<unknown>> = [];
const scenarioNamespaces = namespaces(() => admin);

beforeAll(async () => {
  admin = adminClients(inject("adminKubeconfig"));
  const kc = new KubeConfig();
  kc.loadFromFile(inject("adminKubeconfig"));
  custom = kc.makeApiClient(CustomObjectsApi);
  admission = kc.makeApiClient(AdmissionregistrationV1Api);
  // The CRD first: the agent discovers ScaledObjects when it starts. Left installed (other files use it too).
  const kubectl = ["--kubeconfig", inject("adminKubeconfig")];
  await run("kubectl", [...kubectl, "apply", "-f", crd]);
  await run("kubectl", [...kubectl, "wait", "--for=condition=Established", "--timeout=60s", "-f", crd]);
  // This suite's agent looks only at this suite's namespaces (i6-*): the shared cluster holds hundreds of
  // other suites' namespaces (benchmarks), and other suites' scenarios must not see this agent act.
  agent = await startAgent({
    kubeconfig: inject("agentKubeconfig"),
    // `defaults: enabled` lets a scenario go without policy annotations, so agents of other suites (perhaps
    // older builds, without this config) leave its namespace alone.
    config: [
      "defaults:",
      '  enabled: "true"',
      "  sleep-after: 1h",
      "excludeNamespaces:",
      '  - "(?!i6-).*"',
      "",
    ].join("\n"),
  });
});
afterAll(async () => {
  await agent?.stop();
  for (const cleanup of cleanups.splice(0)) await cleanup().catch(() => undefined);
  await scenarioNamespaces.removeAll();
});

const podTemplate = (app: string, cpu = "100m", image = "nginx") => ({
  metadata: { labels: { app } },
  spec: { containers: [{ name: app, image, resources: { requests: { cpu, memory: "64Mi" } } }] },
});

async function deployment(
  ns: string,
  name: string,
  replicas: number,
  extra: { cpu?: string; annotations?: Record<string, string> } = {},
) {
  await admin.apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name, annotations: extra.annotations ?? {} },
      spec: { replicas, selector: { matchLabels: { app: name } }, template: podTemplate(name, extra.cpu) },
    },
  });
}

const replicas = async (ns: string, name: string) =>
  (await admin.apps.readNamespacedDeployment({ namespace: ns, name })).spec?.replicas;

async function scaledObject(ns: string, name: string, annotations: Record<string, string> = {}) {
  await custom.createNamespacedCustomObject({
    ...keda,
    namespace: ns,
    body: {
      apiVersion: "keda.sh/v1alpha1",
      kind: "ScaledObject",
      metadata: { name, annotations },
      spec: { scaleTargetRef: { name }, triggers: [{ type: "cron", metadata: {} }] },
    },
  });
}

async function scaledObjectAnnotations(ns: string, name: string): Promise<Record<string, string>> {
  const so = (await custom.getNamespacedCustomObject({ ...keda, namespace: ns, name })) as {
    metadata?: { annotations?: Record<string, string> };
  };
  return so.metadata?.annotations ?? {};
}

/** The running agent has published a view of a target in namespace `ns` (so it holds a baseline). */
const agentSees = (ns: string, which?: AgentProcess) =>
  waitFor(`the agent to see ${ns}`, 90_000, async () =>
    (await metricsText(which ?? agent)).includes(`namespace="${ns}"`),
  );

describe("issue 6 on the real API server", () => {
  it("item 1: KEDA objects wake to exactly what their owners had, even a ScaledObject deleted while asleep", async () => {
    const n = await scenarioNamespaces.create("i6-keda", {
      "slumber.dev/sleep-after": "30m",
      ...idleForHours(),
    });
    await deployment(n, "frozen", 4);
    await scaledObject(n, "frozen", { "autoscaling.keda.sh/paused": "true" });
    await deployment(n, "own", 2);
    await scaledObject(n, "own", { "autoscaling.keda.sh/paused-replicas": "2" });
    await deployment(n, "gone", 3);
    await scaledObject(n, "gone");

    await waitFor("all three asleep and paused at 0", 90_000, async () => {
      for (const name of ["frozen", "own", "gone"]) {
        if ((await replicas(n, name)) !== 0) return false;
        if ((await scaledObjectAnnotations(n, name))["autoscaling.keda.sh/paused-replicas"] !== "0")
          return false;
      }
      return true;
    });
    await custom.deleteNamespacedCustomObject({ ...keda, namespace: n, name: "gone" });

    await slumberCli(inject("agentKubeconfig"), "wake", `${n}/${n}`, "--timeout", "120s");
    await waitFor(
      "every count restored",
      60_000,
      async () =>
        (await replicas(n, "frozen")) === 4 &&
        (await replicas(n, "own")) === 2 &&
        (await replicas(n, "gone")) === 3,
    );
    const frozen = await scaledObjectAnnotations(n, "frozen");
    expect(frozen["autoscaling.keda.sh/paused"]).toBe("true");
    expect(frozen["autoscaling.keda.sh/paused-replicas"]).toBeUndefined();
    const own = await scaledObjectAnnotations(n, "own");
    expect(own["autoscaling.keda.sh/paused-replicas"]).toBe("2");
    expect(Object.keys({ ...frozen, ...own }).filter((k) => k.startsWith("slumber.dev/"))).toEqual([]);
  });

  it("item 2: a Deployment an admission policy freezes is reported; the rest of the namespace still wakes", async () => {
    const n = await scenarioNamespaces.create("i6-deny", {
      "slumber.dev/sleep-after": "30m",
      ...idleForHours(),
    });
    await deployment(n, "api", 1);
    await deployment(n, "web", 2);
    await waitFor(
      "api and web asleep",
      90_000,
      async () => (await replicas(n, "api")) === 0 && (await replicas(n, "web")) === 0,
    );

    const policyName = `slumber-e2e-freeze-api-${n}`;
    await admission.createValidatingAdmissionPolicy({
      body: {
        metadata: { name: policyName },
        spec: {
          failurePolicy: "Fail",
          matchConstraints: {
            resourceRules: [
              {
                apiGroups: ["apps"],
                apiVersions: ["v1"],
                operations: ["UPDATE"],
                resources: ["deployments"],
              },
            ],
          },
          validations: [{ expression: "object.metadata.name != 'api'", message: "Deployment api is frozen" }],
        },
      },
    });
    cleanups.push(() => admission.deleteValidatingAdmissionPolicy({ name: policyName }));
    await admission.createValidatingAdmissionPolicyBinding({
      body: {
        metadata: { name: policyName },
        spec: {
          policyName,
          validationActions: ["Deny"],
          matchResources: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": n } } },
        },
      },
    });
    const unbind = () => admission.deleteValidatingAdmissionPolicyBinding({ name: policyName });
    cleanups.push(unbind);
    await waitFor("the policy to deny updates to api", 30_000, async () => {
      try {
        await admin.apps.patchNamespacedDeployment(
          { namespace: n, name: "api", body: { metadata: { annotations: { probe: "1" } } }, dryRun: "All" },
          mergePatch,
        );
        return false;
      } catch {
        return true;
      }
    });

    await admin.core.patchNamespace(
      { name: n, body: { metadata: { annotations: { "slumber.dev/last-wake": new Date().toISOString() } } } },
      mergePatch,
    );
    await waitFor("web awake despite api", 60_000, async () => (await replicas(n, "web")) === 2);
    expect(await replicas(n, "api")).toBe(0);
    const api = await admin.apps.readNamespacedDeployment({ namespace: n, name: "api" });
    expect(api.metadata?.annotations?.["slumber.dev/original-replicas"]).toBe("1");
    await waitFor("a WakeFailed Event on api", 20_000, async () =>
      (await eventReasons(admin, n, "api")).includes("WakeFailed"),
    );
    expect(await metricsText(agent)).toMatch(
      /slumber_api_errors_total\{operation="patch",code="4\d\d"\} [1-9]/,
    );
    const status = JSON.parse(await slumberCli(inject("agentKubeconfig"), "status", "-o", "json")) as {
      targets: { name: string; state: string; reason: string }[];
    };
    const view = status.targets.find((t) => t.name === n);
    expect(view?.state).toBe("awake");
    expect(view?.reason).toContain(`not yet woken: Deployment ${n}/api`);

    await unbind();
    await waitFor(
      "api woken once the policy is lifted",
      60_000,
      async () => (await replicas(n, "api")) === 1,
    );
  });

  it("item 6: an autoscaler's change of replicas is not use; a new pod template is", async () => {
    // No policy annotation: this suite's agent manages it through its config defaults, other agents don't.
    const n = await scenarioNamespaces.create("i6-hpa", { "slumber.dev/last-activity": ago(5 * 60_000) });
    const lastActivity = async () =>
      (await admin.core.readNamespace({ name: n })).metadata?.annotations?.["slumber.dev/last-activity"];
    await agentSees(n);
    const initial = await lastActivity();
    // A new Deployment is a deploy: use.
    await deployment(n, "web", 1);
    await waitFor(
      "the new Deployment recorded as activity",
      60_000,
      async () => (await lastActivity()) !== initial,
    );
    const before = ago(10 * 60_000).replace(/\.\d+Z$/, "Z");
    await admin.core.patchNamespace(
      { name: n, body: { metadata: { annotations: { "slumber.dev/last-activity": before } } } },
      mergePatch,
    );
    // What an HPA does: the scale subresource.
    // Read-modify-write like the HPA, retried on 409: the Deployment's status moves under it.
    await waitFor("the scale subresource written", 30_000, async () => {
      const scale = await admin.apps.readNamespacedDeploymentScale({ namespace: n, name: "web" });
      return admin.apps
        .replaceNamespacedDeploymentScale({
          namespace: n,
          name: "web",
          body: { ...scale, spec: { replicas: 3 } },
        })
        .then(
          () => true,
          (err: { code?: number }) => {
            if (err.code === 409) return false;
            throw err;
          },
        );
    });
    await new Promise((r) => setTimeout(r, 6_000)); // three resyncs and the watch event
    expect(await lastActivity()).toBe(before);
    await admin.apps.patchNamespacedDeployment(
      { namespace: n, name: "web", body: { spec: { template: podTemplate("web", "100m", "nginx:1.27") } } },
      mergePatch,
    );
    await waitFor("the deploy recorded as activity", 60_000, async () => (await lastActivity()) !== before);
    expect(Date.parse((await lastActivity()) ?? "")).toBeGreaterThan(Date.now() - 90_000);
  });

  it("item 6: a virtual cluster's synced pod appearing is use; pods turning Ready are not", async () => {
    const n = await scenarioNamespaces.create("i6-vcpods");
    await createVcluster(admin, {
      namespace: n,
      name: "vc",
      persistent: false,
      syncedPods: 1,
      annotations: { "slumber.dev/sleep-after": "1h", "slumber.dev/last-activity": ago(5 * 60_000) },
    });
    const lastActivity = async () =>
      (await admin.apps.readNamespacedStatefulSet({ namespace: n, name: "vc" })).metadata?.annotations?.[
        "slumber.dev/last-activity"
      ];
    await waitFor("the control plane ready", 60_000, async () => {
      const sts = await admin.apps.readNamespacedStatefulSet({ namespace: n, name: "vc" });
      return (sts.status?.readyReplicas ?? 0) >= 1;
    });
    await agentSees(n);
    await new Promise((r) => setTimeout(r, 4_000)); // a few passes on the baseline
    const before = ago(10 * 60_000).replace(/\.\d+Z$/, "Z");
    await admin.apps.patchNamespacedStatefulSet(
      {
        namespace: n,
        name: "vc",
        body: { metadata: { annotations: { "slumber.dev/last-activity": before } } },
      },
      mergePatch,
    );
    // kwok marks the pods Running and Ready meanwhile: status only.
    await new Promise((r) => setTimeout(r, 6_000));
    expect(await lastActivity()).toBe(before);
    await admin.core.createNamespacedPod({
      namespace: n,
      body: {
        metadata: {
          name: "api-0-x-default-x-vc",
          labels: { "vcluster.loft.sh/managed-by": "vc", "vcluster.loft.sh/namespace": "default" },
        },
        spec: { containers: [{ name: "api", image: "nginx" }] },
      },
    });
    await waitFor(
      "the new synced pod recorded as activity",
      30_000,
      async () => (await lastActivity()) !== before,
    );
    expect(Date.parse((await lastActivity()) ?? "")).toBeGreaterThan(Date.now() - 60_000);
  });

  it("item 8: the hourly cost of a namespace prices only the pods of the workloads sleep scales", async () => {
    const n = await scenarioNamespaces.create("i6-cost", {
      "slumber.dev/sleep-after": "1h",
      "slumber.dev/last-activity": new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    });
    await deployment(n, "web", 2);
    await deployment(n, "pinned", 1, { cpu: "2", annotations: { "slumber.dev/exclude": "true" } });
    await admin.core.createNamespacedPod({
      namespace: n,
      body: { metadata: { name: "debug" }, spec: podTemplate("debug", "2").spec },
    });
    await waitFor(
      "4 pods",
      60_000,
      async () => (await admin.core.listNamespacedPod({ namespace: n })).items.length === 4,
    );
    const status = JSON.parse(await slumberCli(inject("agentKubeconfig"), "status", "-o", "json")) as {
      targets: { name: string; hourlyCost: number }[];
    };
    const perPod = 0.1 * 0.031611 + (64 / 1024) * 0.004237;
    expect(status.targets.find((t) => t.name === n)?.hourlyCost).toBeCloseTo(2 * perPod, 6);
  });
});
