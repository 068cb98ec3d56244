// Plain namespace targets: Deployments, StatefulSets, CronJobs and KEDA ScaledObjects put to sleep and woken.
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  type Admin,
  type AgentProcess,
  adminClients,
  eventReasons,
  idleForHours,
  namespaces,
  slumberCli,
  startAgent,
  waitFor,
} from "./harness.js";

const run = promisify(execFile);
const crd = resolve(import.meta.dirname, "fixtures/keda-scaledobject-crd.yaml");
const keda = { group: "keda.sh", version: "v1alpha1", plural: "scaledobjects" } as const;

let admin: Admin;
let agent: AgentProcess;
let custom: CustomObjectsApi;
const scenarioNamespaces = namespaces(() => admin);

beforeAll(async () => {
  admin = adminClients(inject("adminKubeconfig"));
  const kc = new KubeConfig();
  kc.loadFromFile(inject("adminKubeconfig"));
  custom = kc.makeApiClient(CustomObjectsApi);
  // The CRD first: the agent discovers ScaledObjects when it starts.
  const kubectl = ["--kubeconfig", inject("adminKubeconfig")];
  await run("kubectl", [...kubectl, "apply", "-f", crd]);
  await run("kubectl", [...kubectl, "wait", "--for=condition=Established", "--timeout=60s", "-f", crd]);
  agent = await startAgent({ kubeconfig: inject("agentKubeconfig") });
});
afterAll(async () => {
  await agent?.stop();
  await scenarioNamespaces.removeAll();
  await run("kubectl", [
    "--kubeconfig",
    inject("adminKubeconfig"),
    "delete",
    "--ignore-not-found",
    "-f",
    crd,
  ]);
});

async function kedaPausedReplicas(namespace: string, name: string): Promise<string | undefined> {
  const scaledObject = (await custom.getNamespacedCustomObject({ ...keda, namespace, name })) as {
    metadata?: { annotations?: Record<string, string> };
  };
  return scaledObject.metadata?.annotations?.["autoscaling.keda.sh/paused-replicas"];
}

const podTemplate = (app: string) => ({
  metadata: { labels: { app } },
  spec: {
    containers: [{ name: app, image: "nginx", resources: { requests: { cpu: "100m", memory: "64Mi" } } }],
  },
});

async function deployment(
  ns: string,
  name: string,
  replicas: number,
  annotations: Record<string, string> = {},
) {
  await admin.apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name, annotations },
      spec: { replicas, selector: { matchLabels: { app: name } }, template: podTemplate(name) },
    },
  });
}

describe("namespace targets", () => {
  it("sleeps every workload of an idle namespace and wakes them to their original state", async () => {
    const n = await scenarioNamespaces.create("ns-idle", {
      "slumber.dev/sleep-after": "30m",
      ...idleForHours(),
    });
    await deployment(n, "web", 2);
    await deployment(n, "already-off", 0);
    await deployment(n, "pinned", 1, { "slumber.dev/exclude": "true" });
    await admin.apps.createNamespacedStatefulSet({
      namespace: n,
      body: {
        metadata: { name: "db" },
        spec: {
          serviceName: "db",
          replicas: 1,
          selector: { matchLabels: { app: "db" } },
          template: podTemplate("db"),
        },
      },
    });
    await deployment(n, "worker", 3);
    await custom.createNamespacedCustomObject({
      ...keda,
      namespace: n,
      body: {
        apiVersion: "keda.sh/v1alpha1",
        kind: "ScaledObject",
        metadata: { name: "worker" },
        spec: { scaleTargetRef: { name: "worker" }, triggers: [{ type: "cron", metadata: {} }] },
      },
    });
    await admin.batch.createNamespacedCronJob({
      namespace: n,
      body: {
        metadata: { name: "report" },
        spec: {
          schedule: "*/5 * * * *",
          jobTemplate: {
            spec: { template: { spec: { ...podTemplate("report").spec, restartPolicy: "Never" } } },
          },
        },
      },
    });

    await waitFor("namespace workloads asleep", 90_000, async () => {
      const web = await admin.apps.readNamespacedDeployment({ namespace: n, name: "web" });
      const db = await admin.apps.readNamespacedStatefulSet({ namespace: n, name: "db" });
      const cj = await admin.batch.readNamespacedCronJob({ namespace: n, name: "report" });
      return web.spec?.replicas === 0 && db.spec?.replicas === 0 && cj.spec?.suspend === true;
    });
    // KEDA's target is scaled with its own count recorded on it, and its ScaledObject paused at 0.
    expect(await kedaPausedReplicas(n, "worker")).toBe("0");
    const worker = await admin.apps.readNamespacedDeployment({ namespace: n, name: "worker" });
    expect(worker.spec?.replicas).toBe(0);
    expect(worker.metadata?.annotations?.["slumber.dev/original-replicas"]).toBe("3");
    const web = await admin.apps.readNamespacedDeployment({ namespace: n, name: "web" });
    expect(web.metadata?.annotations?.["slumber.dev/original-replicas"]).toBe("2");
    expect((await admin.apps.readNamespacedDeployment({ namespace: n, name: "pinned" })).spec?.replicas).toBe(
      1,
    );

    await waitFor("a Sleeping Event on the Namespace", 10_000, async () =>
      (await eventReasons(admin, n, n)).includes("Sleeping"),
    );

    // Created while asleep: put to sleep too.
    await deployment(n, "late", 1);
    await waitFor("late deployment asleep", 30_000, async () => {
      const late = await admin.apps.readNamespacedDeployment({ namespace: n, name: "late" });
      return late.spec?.replicas === 0;
    });

    await slumberCli(inject("agentKubeconfig"), "wake", `${n}/${n}`, "--timeout", "120s");
    const read = (name: string) => admin.apps.readNamespacedDeployment({ namespace: n, name });
    expect((await read("web")).spec?.replicas).toBe(2);
    expect((await read("already-off")).spec?.replicas).toBe(0);
    expect((await read("pinned")).spec?.replicas).toBe(1);
    expect((await read("late")).spec?.replicas).toBe(1);
    expect((await read("worker")).spec?.replicas).toBe(3);
    expect((await admin.apps.readNamespacedStatefulSet({ namespace: n, name: "db" })).spec?.replicas).toBe(1);
    const cj = await admin.batch.readNamespacedCronJob({ namespace: n, name: "report" });
    expect(cj.spec?.suspend).toBe(false);
    expect(await kedaPausedReplicas(n, "worker")).toBeUndefined();
  });
});
