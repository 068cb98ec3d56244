// Issue 6 on a real control plane, the agent running as deploy/base/rbac.yaml: parity with `vcluster pause`/`resume`
// v0.36 (a Deployment control plane with its etcd, multi-namespace pods, a pause made west of UTC), the
// RevertUndone Event, and a virtual cluster created inside a sleeping namespace target.
import {
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
  type V1StatefulSet,
} from "@kubernetes/client-node";
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
  vclusterAsleep,
  waitFor,
} from "./harness.js";

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const HOUR = 3_600_000;
const PAUSE = ["loft.sh/paused", "loft.sh/paused-replicas", "loft.sh/paused-date"] as const;

let admin: Admin;
let agent: AgentProcess;
const scenarioNamespaces = namespaces(() => admin);
const idle = idleForHours();

beforeAll(async () => {
  admin = adminClients(inject("adminKubeconfig"));
  agent = await startAgent({ kubeconfig: inject("agentKubeconfig") });
});

afterAll(async () => {
  await agent?.stop();
  await scenarioNamespaces.removeAll();
});

const template = (labels: Record<string, string>, cpu: string) => ({
  metadata: { labels },
  spec: { containers: [{ name: "main", image: "etcd", resources: { requests: { cpu, memory: "128Mi" } } }] },
});

/** The etcd StatefulSet and api Deployment the vcluster chart deploys beside a Deployment control plane. */
async function createCompanions(namespace: string, release: string): Promise<void> {
  const etcd = { app: "vcluster-etcd", release };
  await admin.apps.createNamespacedStatefulSet({
    namespace,
    body: {
      metadata: { name: `${release}-etcd`, labels: etcd },
      spec: {
        serviceName: `${release}-etcd-headless`,
        replicas: 3,
        selector: { matchLabels: etcd },
        template: template(etcd, "100m"),
      },
    },
  });
  const api = { app: "vcluster-api", release };
  await admin.apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: `${release}-api`, labels: api },
      spec: { replicas: 2, selector: { matchLabels: api }, template: template(api, "100m") },
    },
  });
}

const readDeployment = (namespace: string, name: string) =>
  admin.apps.readNamespacedDeployment({ namespace, name });

/** One merge patch, as `vcluster pause` writes it on each object (lifecycle.prepareScaleDown). */
const cliPauseBody = (replicas: number, pausedDate: string) => ({
  metadata: {
    annotations: {
      "loft.sh/paused": "true",
      "loft.sh/paused-replicas": String(replicas),
      "loft.sh/paused-date": pausedDate,
    },
  },
  spec: { replicas: 0 },
});

type Scalable = { kind: "Deployment" | "StatefulSet"; namespace: string; name: string };

async function read(o: Scalable): Promise<V1Deployment | V1StatefulSet> {
  return o.kind === "Deployment"
    ? admin.apps.readNamespacedDeployment({ namespace: o.namespace, name: o.name })
    : admin.apps.readNamespacedStatefulSet({ namespace: o.namespace, name: o.name });
}

async function mergePatchObject(o: Scalable, body: object): Promise<void> {
  if (o.kind === "Deployment")
    await admin.apps.patchNamespacedDeployment({ namespace: o.namespace, name: o.name, body }, mergePatch);
  else
    await admin.apps.patchNamespacedStatefulSet({ namespace: o.namespace, name: o.name, body }, mergePatch);
}

const isPaused = (o: V1Deployment | V1StatefulSet) => o.metadata?.annotations?.["loft.sh/paused"] === "true";

/** `vcluster pause` on one object: skipped when already paused, else one merge patch without resourceVersion. */
async function cliPause(o: Scalable, pausedDate: string): Promise<void> {
  const object = await read(o);
  if (isPaused(object)) return;
  await mergePatchObject(o, cliPauseBody(object.spec?.replicas ?? 1, pausedDate));
}

/** `vcluster resume` on one object (lifecycle.scaleUp*): skipped unless paused; replicas = Atoi(paused-replicas). */
async function cliResume(o: Scalable): Promise<void> {
  const object = await read(o);
  if (!isPaused(object)) return;
  await mergePatchObject(o, {
    metadata: {
      annotations: { "loft.sh/paused": null, "loft.sh/paused-replicas": null, "loft.sh/paused-date": null },
    },
    spec: { replicas: Number(object.metadata?.annotations?.["loft.sh/paused-replicas"] || "1") },
  });
}

/** `time.Now().Format("2006-01-02T15:04:05.000Z")` in America/New_York: wall time, literal Z. */
function newYorkPausedDate(ms: number): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-CA", {
      timeZone: "America/New_York",
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    })
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}.000Z`;
}

describe("issue 6: vcluster parity on a real API server", () => {
  it("pauses a Deployment control plane with its etcd and api like the CLI; `vcluster resume` then finds it paused", async () => {
    const ns = await scenarioNamespaces.create("vc-etcd");
    await createCompanions(ns, "ha");
    await createVcluster(admin, {
      namespace: ns,
      name: "ha",
      controlPlane: "Deployment",
      configYaml: "controlPlane:\n  backingStore:\n    etcd:\n      deploy:\n        enabled: true\n",
      annotations: { "slumber.dev/sleep-after": "30m", ...idle },
    });
    const pausedWithCliLayout = (o: V1Deployment | V1StatefulSet) =>
      o.spec?.replicas === 0 &&
      o.metadata?.annotations?.["loft.sh/paused"] === "true" &&
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(o.metadata?.annotations?.["loft.sh/paused-date"] ?? "");
    await waitFor("control plane, etcd and api paused", 60_000, async () => {
      const [plane, etcd, api] = await Promise.all([
        readDeployment(ns, "ha"),
        readStatefulSet(admin, ns, "ha-etcd"),
        readDeployment(ns, "ha-api"),
      ]);
      // The plane's own paused-date layout is a unit test: the shared e2e cluster may run other helpers' agents,
      // and any of them may record the plane's pause first. Only this agent pauses the companions.
      return (
        isPaused(plane) && plane.spec?.replicas === 0 && pausedWithCliLayout(etcd) && pausedWithCliLayout(api)
      );
    });
    expect(
      (await readStatefulSet(admin, ns, "ha-etcd")).metadata?.annotations?.["loft.sh/paused-replicas"],
    ).toBe("3");
    expect((await readDeployment(ns, "ha-api")).metadata?.annotations?.["loft.sh/paused-replicas"]).toBe("2");

    // `vcluster resume`: the control plane first (it must be paused), then api, then etcd.
    const plane: Scalable = { kind: "Deployment", namespace: ns, name: "ha" };
    const api: Scalable = { kind: "Deployment", namespace: ns, name: "ha-api" };
    const etcd: Scalable = { kind: "StatefulSet", namespace: ns, name: "ha-etcd" };
    const before = Date.now();
    expect(isPaused(await read(plane))).toBe(true);
    for (const o of [plane, api, etcd]) await cliResume(o);
    await waitFor("the resume recorded as a deliberate wake", 30_000, async () => {
      const p = await readDeployment(ns, "ha");
      return Date.parse(p.metadata?.annotations?.["slumber.dev/last-wake"] ?? "") >= before - 1000;
    });
    await new Promise((r) => setTimeout(r, 5_000));
    expect((await read(etcd)).spec?.replicas).toBe(3);
    expect((await read(api)).spec?.replicas).toBe(2);
    expect((await read(plane)).spec?.replicas).toBe(1);
    for (const o of [plane, api, etcd]) expect(isPaused(await read(o)), o.name).toBe(false);

    // `vcluster pause` of everything (the plane first), then `slumber wake`: etcd and api come back with the plane.
    const date = new Date().toISOString();
    for (const o of [plane, api, etcd]) await cliPause(o, date);
    await waitFor("the CLI pause adopted", 30_000, async () =>
      (await eventReasons(admin, ns, "ha")).includes("PausedExternally"),
    );
    await waitFor("etcd paused", 30_000, async () => (await read(etcd)).spec?.replicas === 0);
    await slumberCli(inject("agentKubeconfig"), "wake", `${ns}/ha`, "--timeout", "120s");
    await waitFor("etcd and api resumed", 30_000, async () => {
      return (await read(etcd)).spec?.replicas === 3 && (await read(api)).spec?.replicas === 2;
    });
    for (const o of [api, etcd]) {
      const object = await read(o);
      for (const key of PAUSE)
        expect(object.metadata?.annotations?.[key], `${o.name} ${key}`).toBeUndefined();
    }
  });

  it("keeps a cluster paused with the CLI in New York asleep, dated when the agent saw the pause", async () => {
    const ns = await scenarioNamespaces.create("vc-ny");
    const recent = new Date(Date.now() - 2 * 60_000).toISOString();
    await createVcluster(admin, {
      namespace: ns,
      name: "east",
      replicas: 1,
      annotations: { "slumber.dev/sleep-after": "1h", "slumber.dev/last-activity": recent },
    });
    await waitFor("east observed awake by the agent", 30_000, async () =>
      (await metricsText(agent)).includes(
        `slumber_target_asleep{kind="vcluster",namespace="${ns}",name="east"} 0`,
      ),
    );
    const pausedAt = Date.now();
    const date = newYorkPausedDate(pausedAt);
    expect(Date.parse(date)).toBeLessThan(pausedAt - 3 * HOUR); // the field lies: hours early
    await cliPause({ kind: "StatefulSet", namespace: ns, name: "east" }, date);
    const adopted = await waitFor("the pause adopted", 30_000, async () => {
      const sts = await readStatefulSet(admin, ns, "east");
      return sts.metadata?.annotations?.["slumber.dev/manual-sleep"] ? sts : false;
    });
    const manualSleep = Date.parse(adopted.metadata?.annotations?.["slumber.dev/manual-sleep"] ?? "");
    expect(manualSleep).toBeGreaterThanOrEqual(Math.floor(pausedAt / 1000) * 1000);
    expect(manualSleep).toBeLessThan(Date.now() + 1000);
    // Several resyncs later (2 s each) it is still paused: the CLI's wait for status.replicas == 0 succeeds.
    await new Promise((r) => setTimeout(r, 8_000));
    const sts = await readStatefulSet(admin, ns, "east");
    expect(sts.spec?.replicas).toBe(0);
    expect(sts.metadata?.annotations?.["loft.sh/paused"]).toBe("true");
    expect(await eventReasons(admin, ns, "east")).not.toContain("Woken");
  });

  it("says RevertUndone when a GitOps revert restores replicas of a paused cluster", async () => {
    const ns = await scenarioNamespaces.create("vc-revert");
    await createVcluster(admin, {
      namespace: ns,
      name: "gitops",
      replicas: 2,
      annotations: { "slumber.dev/sleep-after": "30m", ...idle },
    });
    await waitFor("gitops asleep", 60_000, vclusterAsleep(admin, ns, "gitops"));
    expect(await eventReasons(admin, ns, "gitops")).not.toContain("RevertUndone");
    await admin.apps.patchNamespacedStatefulSet(
      { namespace: ns, name: "gitops", body: { spec: { replicas: 2 } } },
      mergePatch,
    );
    await waitFor("the revert undone with an Event", 30_000, async () =>
      (await eventReasons(admin, ns, "gitops")).includes("RevertUndone"),
    );
    expect((await readStatefulSet(admin, ns, "gitops")).spec?.replicas).toBe(0);
  });

  it("deletes the pods of the namespaces a multi-namespace cluster manages", async () => {
    const ns = await scenarioNamespaces.create("vc-multi");
    const managed = await scenarioNamespaces.create("vc-multi-t");
    await admin.core.patchNamespace(
      { name: managed, body: { metadata: { labels: { "vcluster.loft.sh/managed-by": `${ns}-x-multi` } } } },
      mergePatch,
    );
    await admin.core.createNamespacedPod({
      namespace: managed,
      body: {
        metadata: { name: "web" },
        spec: { containers: [{ name: "web", image: "nginx", resources: { requests: { cpu: "100m" } } }] },
      },
    });
    await createVcluster(admin, {
      namespace: ns,
      name: "multi",
      annotations: { "slumber.dev/sleep-after": "30m", ...idle },
    });
    // Not opted in (manage: annotated): no target, so no series (issue 6 item 9).
    await createVcluster(admin, { namespace: ns, name: "bystander" });
    await waitFor("multi asleep", 60_000, vclusterAsleep(admin, ns, "multi"));
    await waitFor("multi's series", 20_000, async () =>
      (await metricsText(agent)).includes(
        `slumber_target_asleep{kind="vcluster",namespace="${ns}",name="multi"} 1`,
      ),
    );
    expect(await metricsText(agent)).not.toContain(`name="bystander"`);
    await waitFor("the managed namespace's pod deleted", 30_000, async () => {
      const pods = await admin.core.listNamespacedPod({ namespace: managed });
      return pods.items.every((p) => p.metadata?.deletionTimestamp);
    });
  });

  it("wakes a sleeping namespace target in which a virtual cluster is created", async () => {
    const ns = await scenarioNamespaces.create("ns-becomes-host", {
      "slumber.dev/sleep-after": "30m",
      ...idle,
    });
    const web = { app: "web" };
    await admin.apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: "web", labels: web },
        spec: { replicas: 2, selector: { matchLabels: web }, template: template(web, "50m") },
      },
    });
    await waitFor("the namespace asleep", 60_000, async () => {
      const [namespace, deployment] = await Promise.all([
        admin.core.readNamespace({ name: ns }),
        readDeployment(ns, "web"),
      ]);
      return (
        namespace.metadata?.annotations?.["slumber.dev/sleeping-since"] && deployment.spec?.replicas === 0
      );
    });
    await createVcluster(admin, {
      namespace: ns,
      name: "late",
      annotations: { "slumber.dev/enabled": "true" },
    });
    await waitFor("the namespace's workloads woken", 60_000, async () => {
      const [namespace, deployment] = await Promise.all([
        admin.core.readNamespace({ name: ns }),
        readDeployment(ns, "web"),
      ]);
      return (
        namespace.metadata?.annotations?.["slumber.dev/sleeping-since"] === undefined &&
        deployment.spec?.replicas === 2
      );
    });
  });
});
