// Plain namespace targets: Deployments, StatefulSets and CronJobs put to sleep and woken.
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

let admin: Admin;
let agent: AgentProcess;
const scenarioNamespaces = namespaces(() => admin);

beforeAll(async () => {
  admin = adminClients(inject("adminKubeconfig"));
  agent = await startAgent({ kubeconfig: inject("agentKubeconfig") });
});
afterAll(async () => {
  await agent?.stop();
  await scenarioNamespaces.removeAll();
});

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
    expect((await admin.apps.readNamespacedStatefulSet({ namespace: n, name: "db" })).spec?.replicas).toBe(1);
    const cj = await admin.batch.readNamespacedCronJob({ namespace: n, name: "report" });
    expect(cj.spec?.suspend).toBe(false);
  });
});
