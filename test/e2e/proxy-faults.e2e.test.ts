// Fault injection against the running agent *and* its wake proxy (issue 9): the host kube-apiserver
// restarted while the proxy holds a request for a waking cluster, and a woken cluster whose control
// plane never becomes ready. The built agent (as the RBAC in deploy/) with --proxy-port, simulated
// virtual clusters (test/cluster/simulator.ts), raw HTTPS clients with the tenants' certificates.
import { execFile } from "node:child_process";
import { connect } from "node:net";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { KubeConfig, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  type Admin,
  type AgentProcess,
  adminClients,
  createNamespace,
  createVcluster,
  freePort,
  idleForHours,
  metricsText,
  readStatefulSet,
  startAgent,
  vclusterAsleep,
  waitFor,
} from "./harness.js";
import { createSimulatedNamespace, secretData, virtualApiserverPids } from "./simulator-harness.js";

const run = promisify(execFile);
const repoRoot = resolve(import.meta.dirname, "../..");
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
/** Every namespace of this file starts with it; the agents here ignore all others (the control plane is shared). */
const PREFIX = "pfault";
const ONLY_OURS = `excludeNamespaces:\n  - "(?!${PREFIX}-).*"\n`;

let admin: Admin;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(() => {
  admin = adminClients(inject("adminKubeconfig"));
});

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}, 120_000);

interface Answer {
  status: number;
  body: string;
  ms: number;
}

/** A GET through the proxy with no client-side timeout (a held request may wait minutes); never rejects. */
async function proxyGet(
  proxyPort: number,
  path: string,
  opts: { ca: string; cert?: string; key?: string; headers?: Record<string, string> },
): Promise<Answer> {
  const started = Date.now();
  const dispatcher = new Agent({
    connect: {
      ca: opts.ca,
      servername: "localhost",
      ...(opts.cert ? { cert: opts.cert, key: opts.key } : {}),
    },
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  try {
    const answer = await request(`https://127.0.0.1:${proxyPort}${path}`, {
      dispatcher,
      ...(opts.headers ? { headers: opts.headers } : {}),
    });
    return { status: answer.statusCode, body: await answer.body.text(), ms: Date.now() - started };
  } catch (err) {
    return { status: 0, body: String(err), ms: Date.now() - started };
  } finally {
    await dispatcher.close();
  }
}

/** Opted in and asleep: a sleep event (manual-sleep) with no use after it. */
const sleepingAnnotations = () => ({
  "slumber.dev/enabled": "true",
  "slumber.dev/sleep-after": "1h",
  "slumber.dev/manual-sleep": new Date(Date.now() - 5_000).toISOString().replace(/\.\d+Z$/, "Z"),
});

async function createSleepingCluster(namespace: string, name: string, extra: Record<string, string> = {}) {
  await createVcluster(admin, { namespace, name, annotations: { ...sleepingAnnotations(), ...extra } });
  await waitFor(`${namespace}/${name} paused by the agent`, 90_000, async () => {
    const sts = await readStatefulSet(admin, namespace, name);
    return sts.metadata?.annotations?.["loft.sh/paused"] === "true" && (sts.status?.readyReplicas ?? 0) === 0;
  });
}

/** The tenant's client certificate from vc-NAME (laid out by the simulator). */
async function tenant(namespace: string, name: string) {
  const vc = await waitFor(`Secret ${namespace}/vc-${name}`, 60_000, () =>
    secretData(admin, namespace, `vc-${name}`),
  );
  return { cert: vc["client-certificate"] ?? "", key: vc["client-key"] ?? "" };
}

async function proxyCa(): Promise<string> {
  const tls = await waitFor("Secret slumber/slumber-proxy-tls", 30_000, () =>
    secretData(admin, "slumber", "slumber-proxy-tls"),
  );
  return tls["ca.crt"] ?? "";
}

/** One sample of the agent's /metrics, or undefined when the series is absent. */
async function sample(
  agent: AgentProcess,
  name: string,
  labels: Record<string, string>,
): Promise<number | undefined> {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = (await metricsText(agent))
    .split("\n")
    .find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}

const heldGauge = (agent: AgentProcess, namespace: string, name: string) =>
  sample(agent, "slumber_proxy_held_requests", { namespace, name });

/** The host kube-apiserver's port, from the admin kubeconfig. */
function apiserverPort(): number {
  const kc = new KubeConfig();
  kc.loadFromFile(inject("adminKubeconfig"));
  return Number(new URL(kc.getCurrentCluster()?.server ?? "").port);
}

/** True while something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.setTimeout(1_000);
    socket.once("connect", () => {
      socket.destroy();
      done(true);
    });
    socket.once("error", () => done(false));
    socket.once("timeout", () => {
      socket.destroy();
      done(false);
    });
  });
}

describe("host API server restarted under a running agent and proxy", () => {
  let agent: AgentProcess;
  let proxyPort: number;
  let ns: string;
  /** A namespace the simulator ignores, for a cluster the proxy has never seen. */
  let plainNs: string;
  let ca: string;

  beforeAll(async () => {
    const created = await createSimulatedNamespace(admin, PREFIX);
    ns = created.name;
    cleanups.push(created.remove);
    const plain = await createNamespace(admin, `${PREFIX}-fresh`);
    plainNs = plain.name;
    cleanups.push(plain.remove);
    proxyPort = await freePort();
    agent = await startAgent({
      kubeconfig: inject("agentKubeconfig"),
      config: ONLY_OURS,
      // --resync 10m: after the restart only recovered watches (not a periodic full pass) see changes,
      // and a wake whose write failed while the API server was down is not rescued by a pass either.
      // --wake-timeout 240s: the held requests must outlast the outage and a cold wake after it.
      extraArgs: ["--resync", "10m", "--proxy-port", String(proxyPort), "--wake-timeout", "240s"],
    });
    cleanups.push(async () => {
      await agent.stop();
    });
    await Promise.all([
      createSleepingCluster(ns, "held"),
      createSleepingCluster(ns, "during"),
      createSleepingCluster(plainNs, "fresh"),
      // Opted in with no recorded use: kept awake for an hour, so its virtual API server runs.
      createVcluster(admin, { namespace: ns, name: "awake", annotations: { "slumber.dev/enabled": "true" } }),
    ]);
    ca = await proxyCa();
  }, 300_000);

  it("a held request and one sent while it is down both complete (200) once it is back; an awake cluster is served throughout; the agent keeps acting", async () => {
    const port = apiserverPort();
    const [held, during, awake] = await Promise.all([
      tenant(ns, "held"),
      tenant(ns, "during"),
      tenant(ns, "awake"),
    ]);
    const awakePath = `/vcluster/${ns}/awake/api/v1/namespaces/default`;
    // The awake cluster's virtual API server is up and served through the proxy before the fault.
    await waitFor("the awake cluster answering through the proxy", 120_000, async () => {
      const answer = await proxyGet(proxyPort, awakePath, { ca, ...awake });
      return answer.status === 200;
    });
    await waitFor(
      "held and during's API servers stopped (asleep)",
      60_000,
      async () => [...virtualApiserverPids(ns, "held"), ...virtualApiserverPids(ns, "during")].length === 0,
    );
    // The proxy has seen `during` before (a health check: refused while asleep, wakes nothing), so it
    // follows its Secret already, as it would for any cluster used before; `fresh` it has never seen.
    const probe = await proxyGet(proxyPort, `/vcluster/${ns}/during/healthz`, { ca, ...during });
    expect(probe.status, probe.body).toBe(503);

    // `held`'s pod can only be scheduled on a node with a label no node has yet: its wake is written
    // before the outage but cannot finish until the label is set after it (the API server is needed for
    // that, and the agent must see the pod turn Ready through its recovered watches).
    const gate = { "slumber.dev/e2e-wake-gate": ns };
    await admin.apps.patchNamespacedStatefulSet(
      { namespace: ns, name: "held", body: { spec: { template: { spec: { nodeSelector: gate } } } } },
      mergePatch,
    );
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await readStatefulSet(admin, ns, "held")).spec?.replicas, "a template change is no use").toBe(0);

    // 1. A request for a sleeping cluster: held, and its wake has started (replicas 1, pod Pending).
    const heldAnswer = proxyGet(proxyPort, `/vcluster/${ns}/held/api/v1/namespaces`, { ca, ...held }).then(
      (answer) => ({ ...answer, at: Date.now() }),
    );
    await waitFor(
      "the request held by the proxy",
      30_000,
      async () => (await heldGauge(agent, ns, "held")) === 1,
    );
    await waitFor(
      "held's wake written",
      30_000,
      async () => (await readStatefulSet(admin, ns, "held")).spec?.replicas === 1,
    );

    // 2. Restart the host kube-apiserver, down for 15 s.
    const restarted = run("bash", [resolve(repoRoot, "test/cluster/restart-apiserver.sh")], {
      timeout: 240_000,
      env: { ...process.env, SLUMBER_APISERVER_DOWN_SECONDS: "15" },
    });
    restarted.catch(() => undefined);
    await waitFor("the host kube-apiserver down", 30_000, async () => !(await listening(port)));
    const heldWhenDown = await heldGauge(agent, ns, "held");

    // 3. While it is down: a request for another sleeping cluster (its wake cannot be written now), a
    // request for the awake cluster (forwarded from memory: routes, certificates, pools), an unknown route.
    const duringAnswer = proxyGet(proxyPort, `/vcluster/${ns}/during/api/v1/namespaces`, { ca, ...during });
    const awakeWhileDown = await proxyGet(proxyPort, awakePath, { ca, ...awake });
    const unknownWhileDown = await proxyGet(proxyPort, `/vcluster/${ns}/nobody/api`, { ca, ...awake });
    // Never seen: its Secret cannot be read now, so its credentials cannot be checked.
    const freshWhileDown = await proxyGet(proxyPort, `/vcluster/${plainNs}/fresh/api`, { ca, ...held });
    const stillDown = !(await listening(port));
    await waitFor(
      "the request for during held",
      10_000,
      async () => (await heldGauge(agent, ns, "during")) === 1,
    );

    // 4. The API server comes back; the gate opens; both held requests complete.
    await restarted;
    const backAt = Date.now();
    const node = (await admin.core.listNode()).items[0]?.metadata?.name ?? "";
    await admin.core.patchNode({ name: node, body: { metadata: { labels: gate } } }, mergePatch);
    cleanups.push(async () => {
      await admin.core
        .patchNode(
          { name: node, body: { metadata: { labels: { "slumber.dev/e2e-wake-gate": null } } } },
          mergePatch,
        )
        .catch(() => undefined);
    });
    const [heldDone, duringDone] = await Promise.all([heldAnswer, duringAnswer]);
    console.log(
      `[proxy-faults] held: ${heldDone.status} after ${heldDone.ms} ms (${heldDone.at - backAt} ms after the API server was back); during: ${duringDone.status} after ${duringDone.ms} ms; awake while down: ${awakeWhileDown.status} in ${awakeWhileDown.ms} ms`,
    );

    expect(heldWhenDown, "the first request was still held when the API server went down").toBe(1);
    expect(heldDone.at, "the first request was answered after the API server was back").toBeGreaterThan(
      backAt,
    );
    expect(stillDown, "the requests of step 3 were sent while the API server was down").toBe(true);
    expect(awakeWhileDown.status, awakeWhileDown.body).toBe(200);
    expect(JSON.parse(awakeWhileDown.body)).toMatchObject({
      kind: "Namespace",
      metadata: { name: "default" },
    });
    expect(awakeWhileDown.ms).toBeLessThan(5_000);
    expect(unknownWhileDown.status).toBe(404);
    expect(JSON.parse(unknownWhileDown.body)).toMatchObject({ kind: "Status", code: 404 });
    expect(freshWhileDown.status, freshWhileDown.body).toBe(503);
    expect(JSON.parse(freshWhileDown.body)).toMatchObject({
      kind: "Status",
      code: 503,
      details: { retryAfterSeconds: 5 },
      message: expect.stringContaining(`Secret ${plainNs}/fresh-certs cannot be read`),
    });
    expect(heldDone.status, heldDone.body).toBe(200);
    expect(JSON.parse(heldDone.body)).toMatchObject({ kind: "NamespaceList" });
    expect(duringDone.status, duringDone.body).toBe(200);
    expect(JSON.parse(duringDone.body)).toMatchObject({ kind: "NamespaceList" });
    expect(await heldGauge(agent, ns, "held")).toBe(0);
    expect(await heldGauge(agent, ns, "during")).toBe(0);
    for (const name of ["held", "during"])
      expect(
        await sample(agent, "slumber_proxy_requests_total", { namespace: ns, name, outcome: "timeout" }),
      ).toBe(undefined);

    // 5. The agent did not crash, its informers recovered, and it acts on a change made after the restart
    // (resync is 10 minutes away: only a live watch sees the new target).
    expect(agent.child.exitCode).toBeNull();
    expect(agent.logs()).toContain("informer stopped; restarting");
    const late = await createNamespace(admin, `${PREFIX}-late`);
    cleanups.push(late.remove);
    await createVcluster(admin, {
      namespace: late.name,
      name: "late",
      annotations: { "slumber.dev/enabled": "true", "slumber.dev/sleep-after": "30m", ...idleForHours() },
    });
    await waitFor("late asleep", 90_000, vclusterAsleep(admin, late.name, "late"));
    expect(agent.child.exitCode).toBeNull();
    // The refused request did not wake `fresh`.
    expect((await readStatefulSet(admin, plainNs, "fresh")).spec?.replicas).toBe(0);
  }, 600_000);
});

describe("a woken cluster whose control plane never becomes ready", () => {
  const WAKE_TIMEOUT_S = 20;
  const HELD = 40;
  let agent: AgentProcess;
  let proxyPort: number;

  beforeAll(async () => {
    proxyPort = await freePort();
    agent = await startAgent({
      kubeconfig: inject("agentKubeconfig"),
      config: ONLY_OURS,
      extraArgs: ["--proxy-port", String(proxyPort), "--wake-timeout", `${WAKE_TIMEOUT_S}s`],
    });
    cleanups.push(async () => {
      await agent.stop();
    });
  }, 120_000);

  it(`${HELD} held requests: 504 with a Status at --wake-timeout, and the held gauge back to 0`, async () => {
    const plain = await createNamespace(admin, `${PREFIX}-never`);
    cleanups.push(plain.remove);
    await createSleepingCluster(plain.name, "stuck");
    // Its pod can never be scheduled (no node has this label): the wake is written, Ready never comes.
    await admin.apps.patchNamespacedStatefulSet(
      {
        namespace: plain.name,
        name: "stuck",
        body: { spec: { template: { spec: { nodeSelector: { "slumber.dev/e2e-no-such-node": "true" } } } } },
      },
      mergePatch,
    );
    const ca = await proxyCa();
    const path = `/vcluster/${plain.name}/stuck/api/v1/namespaces`;
    // A bearer token that is not a service-account JWT passes through (the API server would check it).
    const headers = { authorization: "Bearer an-oidc-token-the-api-server-would-check" };
    const answers = Array.from({ length: HELD }, () => proxyGet(proxyPort, path, { ca, headers }));
    await waitFor(
      `${HELD} requests held`,
      20_000,
      async () => (await heldGauge(agent, plain.name, "stuck")) === HELD,
    );
    const results = await Promise.all(answers);
    for (const answer of results) {
      expect(answer.status, answer.body).toBe(504);
      expect(JSON.parse(answer.body)).toMatchObject({
        kind: "Status",
        status: "Failure",
        code: 504,
        reason: "Timeout",
        message: `virtual cluster ${plain.name}/stuck did not become ready within ${WAKE_TIMEOUT_S}s (--wake-timeout)`,
      });
    }
    const times = results.map((r) => r.ms);
    console.log(`[proxy-faults] ${HELD} × 504 after ${Math.min(...times)}-${Math.max(...times)} ms`);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(WAKE_TIMEOUT_S * 1000 - 100);
    expect(Math.max(...times)).toBeLessThan(WAKE_TIMEOUT_S * 1000 + 10_000);
    expect(await heldGauge(agent, plain.name, "stuck")).toBe(0);
    expect(
      await sample(agent, "slumber_proxy_requests_total", {
        namespace: plain.name,
        name: "stuck",
        outcome: "timeout",
      }),
    ).toBe(HELD);
    // Woken once (it stays woken: the wake was wanted), never Ready.
    const sts = await readStatefulSet(admin, plain.name, "stuck");
    expect(sts.spec?.replicas).toBe(1);
    expect(sts.status?.readyReplicas ?? 0).toBe(0);
    expect(agent.child.exitCode).toBeNull();
  }, 180_000);
});
