// The wake proxy end to end: the built agent (as the RBAC in deploy/) with --proxy-port, simulated
// virtual clusters (a real kube-apiserver per Ready StatefulSet, test/cluster/simulator.ts), kubectl
// with the kubeconfig `slumber kubeconfig` prints, and raw TLS sockets for what kubectl hides.
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { promisify } from "node:util";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  type Admin,
  type AgentProcess,
  adminClients,
  createNamespace,
  createVcluster,
  freePort,
  metricsText,
  readStatefulSet,
  slumberCli,
  startAgent,
  waitFor,
} from "./harness.js";
import { createSimulatedNamespace, secretData, virtualApiserverPids } from "./simulator-harness.js";

const run = promisify(execFile);
// Generous: on the shared 2-core machine a wake (pod Ready, then a first kube-apiserver boot) took 4-27 s.
const WAKE_TIMEOUT_S = 45;

let admin: Admin;
let agent: AgentProcess;
let proxyPort: number;
let ns: string;
let proxyCa: string;
const cleanups: Array<() => Promise<void>> = [];
const proxyUrl = () => `https://127.0.0.1:${proxyPort}`;

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
  // The simulator may have started its API server before the pause; it stops it at 0 replicas.
  await waitFor(
    `${namespace}/${name}'s API server stopped`,
    60_000,
    async () => virtualApiserverPids(namespace, name).length === 0,
  );
}

/** Puts a woken cluster back to sleep (a sleep event now) and waits until its API server is gone. */
async function putToSleep(namespace: string, name: string) {
  await slumberCli(inject("adminKubeconfig"), "sleep", `${namespace}/${name}`, "--timeout", "120s");
  await waitFor(
    `${namespace}/${name}'s API server stopped`,
    60_000,
    async () => virtualApiserverPids(namespace, name).length === 0,
  );
}

/** kubectl with room for a wake (the simulator's helper gives up after 10 s). */
async function kubectl(kubeconfig: string, ...args: string[]): Promise<string> {
  const { stdout } = await run("kubectl", ["--kubeconfig", kubeconfig, "--request-timeout=90s", ...args]);
  return stdout;
}

/** A GET through the proxy with no client-side timeout (a held request may wait for a wake). */
async function httpsGet(
  base: string,
  path: string,
  opts: { ca: string; cert?: string; key?: string; headers?: Record<string, string> },
): Promise<{ status: number; body: string }> {
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
    const answer = await request(`${base}${path}`, {
      dispatcher,
      ...(opts.headers ? { headers: opts.headers } : {}),
    });
    return { status: answer.statusCode, body: await answer.body.text() };
  } finally {
    await dispatcher.close();
  }
}

async function replicas(namespace: string, name: string): Promise<number> {
  return (await readStatefulSet(admin, namespace, name)).spec?.replicas ?? -1;
}

/** The tenant's client certificate (vc-NAME) and a kubeconfig through the proxy (`slumber kubeconfig`). */
async function tenant(namespace: string, name: string) {
  const vc = await waitFor(`Secret ${namespace}/vc-${name}`, 60_000, () =>
    secretData(admin, namespace, `vc-${name}`),
  );
  const yaml = await slumberCli(
    inject("adminKubeconfig"),
    "kubeconfig",
    `${namespace}/${name}`,
    "--proxy-url",
    proxyUrl(),
    "--namespace",
    "slumber",
  );
  const file = join(mkdtempSync(join(tmpdir(), "slumber-tenant-")), "config");
  writeFileSync(file, yaml, { mode: 0o600 });
  return { cert: vc["client-certificate"] ?? "", key: vc["client-key"] ?? "", kubeconfig: file };
}

/** A raw HTTP/1.1 request over TLS with a client certificate; all bytes received within `waitMs`. */
function rawRequest(head: string, cred: { cert?: string; key?: string }, waitMs = 3_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      port: proxyPort,
      host: "127.0.0.1",
      ca: proxyCa,
      servername: "localhost",
      ALPNProtocols: ["http/1.1"],
      ...(cred.cert ? { cert: cred.cert, key: cred.key } : {}),
    });
    let got = "";
    socket.on("data", (d: Buffer) => {
      got += d.toString();
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(got));
    socket.on("secureConnect", () => socket.write(head));
    setTimeout(() => {
      socket.destroy();
      resolve(got);
    }, waitMs);
  });
}

const awakeTransitions = async (namespace: string, name: string): Promise<number> => {
  const text = await metricsText(agent);
  const line = text
    .split("\n")
    .find(
      (l) =>
        l.startsWith("slumber_transitions_total{") &&
        l.includes(`namespace="${namespace}"`) &&
        l.includes(`name="${name}"`) &&
        l.includes('to="awake"') &&
        l.includes('reason="activity"'),
    );
  return line ? Number(line.split(" ").at(-1)) : 0;
};

beforeAll(async () => {
  admin = adminClients(inject("adminKubeconfig"));
  const created = await createSimulatedNamespace(admin, "proxy");
  ns = created.name;
  cleanups.push(created.remove);
  proxyPort = await freePort();
  agent = await startAgent({
    kubeconfig: inject("agentKubeconfig"),
    // Only this file's namespaces: the shared control plane holds hundreds of other scenarios' namespaces,
    // which this agent must neither slow down on nor put to sleep.
    config: 'excludeNamespaces:\n  - "(?!proxy-).*"\n',
    extraArgs: ["--proxy-port", String(proxyPort), "--wake-timeout", `${WAKE_TIMEOUT_S}s`],
  });
  cleanups.push(() => agent.stop());
  await Promise.all([
    createSleepingCluster(ns, "alpha"),
    createSleepingCluster(ns, "beta", { "slumber.dev/ignore-user-agents": "argocd*" }),
  ]);
  const tls = await waitFor("Secret slumber/slumber-proxy-tls", 30_000, () =>
    secretData(admin, "slumber", "slumber-proxy-tls"),
  );
  proxyCa = tls["ca.crt"] ?? "";
}, 240_000);

afterAll(async () => {
  // The agent's own account of the run, for a failure's post-mortem.
  if (agent) writeFileSync(join(tmpdir(), "slumber-proxy-e2e-agent.log"), agent.logs());
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}, 60_000);

describe("wake proxy on simulated virtual clusters", () => {
  it("wakes a sleeping cluster once for 20 parallel requests and kubectl get, and answers all of them", async () => {
    const alice = await tenant(ns, "alpha");
    expect(virtualApiserverPids(ns, "alpha")).toEqual([]);
    const started = Date.now();
    const parallel = Array.from({ length: 20 }, () =>
      httpsGet(proxyUrl(), `/vcluster/${ns}/alpha/api/v1/namespaces`, {
        ca: proxyCa,
        cert: alice.cert,
        key: alice.key,
      }).catch((err: Error) => ({ status: 0, body: err.message })),
    );
    // A first boot may not have created its system namespaces yet: the list itself is what counts.
    const viaKubectl = kubectl(alice.kubeconfig, "get", "namespaces", "-o", "json");
    const answers = await Promise.all(parallel);
    expect(
      answers.map((a) => a.status),
      answers[0]?.body,
    ).toEqual(Array(20).fill(200));
    expect(JSON.parse(answers[0]!.body)).toMatchObject({ kind: "NamespaceList" });
    expect(JSON.parse(await viaKubectl)).toMatchObject({ kind: "List", apiVersion: "v1" });
    console.log(`[proxy] sleeping cluster answered 21 requests ${Date.now() - started} ms after the first`);
    expect(await replicas(ns, "alpha")).toBe(1);
    expect(await awakeTransitions(ns, "alpha")).toBe(1);
    const sts = await readStatefulSet(admin, ns, "alpha");
    expect(sts.metadata?.annotations?.["slumber.dev/last-activity-source"]).toBe("request");
    const text = await metricsText(agent);
    expect(text).toMatch(
      new RegExp(`slumber_proxy_requests_total\\{namespace="${ns}",name="alpha",outcome="held"\\} \\d+`),
    );
  }, 120_000);

  it("streams a watch through the proxy", async () => {
    const alice = await tenant(ns, "alpha");
    const watch = spawn(
      "kubectl",
      ["--kubeconfig", alice.kubeconfig, "get", "configmaps", "--watch", "-o", "name", "-v=6"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let log = "";
    watch.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    watch.stderr.on("data", (d: Buffer) => {
      log += d.toString();
    });
    try {
      // kubectl -v=6 logs the watch request once its answer's head arrived: the stream is open.
      await waitFor("the watch to open", 30_000, async () => /watch=true.* 200 OK/.test(log));
      const name = `streamed-${randomBytes(2).toString("hex")}`;
      await kubectl(alice.kubeconfig, "create", "configmap", name, "--from-literal=k=v");
      await waitFor(`configmap/${name} on the open watch`, 20_000, async () =>
        out.includes(`configmap/${name}`),
      );
    } finally {
      watch.kill();
    }
  }, 60_000);

  it("relays an exec upgrade's refusal (SPDY POST and WebSocket GET) with the API server's Status", async () => {
    const alice = await tenant(ns, "alpha");
    const spdy = await rawRequest(
      `POST /vcluster/${ns}/alpha/api/v1/namespaces/default/pods/nope/exec?command=ls&stdout=true HTTP/1.1\r\n` +
        "Host: localhost\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n" +
        "X-Stream-Protocol-Version: v4.channel.k8s.io\r\nX-Stream-Protocol-Version: v3.channel.k8s.io\r\nContent-Length: 0\r\n\r\n",
      alice,
    );
    expect(spdy).toMatch(/^HTTP\/1\.1 404/);
    expect(spdy).toContain('"kind":"Status"');
    expect(spdy).toContain('pods \\"nope\\" not found');
    const ws = await rawRequest(
      `GET /vcluster/${ns}/alpha/api/v1/namespaces/default/pods/nope/portforward?ports=80 HTTP/1.1\r\n` +
        "Host: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n",
      alice,
    );
    expect(ws).toMatch(/^HTTP\/1\.1 404/);
    expect(ws).toContain('pods \\"nope\\" not found');
    const viaKubectl = await kubectl(alice.kubeconfig, "exec", "nope", "--", "ls").catch(
      (err: Error) => err.message,
    );
    expect(viaKubectl).toContain('pods "nope" not found');
  }, 60_000);

  it("answers 401 and does not wake for missing or bad credentials, or another cluster's certificate", async () => {
    const alice = await tenant(ns, "alpha");
    const path = `/vcluster/${ns}/beta/api/v1/namespaces`;
    const forged = (() => {
      const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
      return `${b64({ alg: "RS256" })}.${b64({ sub: "system:serviceaccount:default:x", exp: Math.floor(Date.now() / 1000) + 600 })}.${b64({})}`;
    })();
    const answers = [
      await httpsGet(proxyUrl(), path, { ca: proxyCa }),
      await httpsGet(proxyUrl(), path, { ca: proxyCa, headers: { authorization: `Bearer ${forged}` } }),
      // alpha's tenant certificate, on beta's route: every simulated cluster's CA has the subject CN=kubernetes.
      await httpsGet(proxyUrl(), path, { ca: proxyCa, cert: alice.cert, key: alice.key }),
    ];
    for (const answer of answers) {
      expect(answer.status).toBe(401);
      expect(JSON.parse(answer.body)).toMatchObject({ kind: "Status", code: 401, reason: "Unauthorized" });
    }
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await replicas(ns, "beta")).toBe(0);
    expect(await awakeTransitions(ns, "beta")).toBe(0);
    expect(agent.logs()).not.toContain(forged.split(".")[1]!);
  }, 60_000);

  it("leaves the cluster asleep for an ignored user agent and X-Sleep-Mode-Ignore", async () => {
    const bob = await tenant(ns, "beta");
    const path = `/vcluster/${ns}/beta/api/v1/namespaces`;
    const ua = await httpsGet(proxyUrl(), path, {
      ca: proxyCa,
      cert: bob.cert,
      key: bob.key,
      headers: { "user-agent": "argocd-application-controller/v3" },
    });
    const flagged = await httpsGet(proxyUrl(), path, {
      ca: proxyCa,
      cert: bob.cert,
      key: bob.key,
      headers: { "x-sleep-mode-ignore": "true" },
    });
    expect([ua.status, flagged.status]).toEqual([503, 503]);
    expect(JSON.parse(ua.body)).toMatchObject({ kind: "Status", code: 503 });
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await replicas(ns, "beta")).toBe(0);
    // Beta's own tenant is not ignored: that request wakes it.
    const real = await httpsGet(proxyUrl(), path, { ca: proxyCa, cert: bob.cert, key: bob.key });
    expect(real.status).toBe(200);
    expect(await awakeTransitions(ns, "beta")).toBe(1);
  }, 90_000);

  it("answers 504 with a Status when the woken cluster's API server never answers", async () => {
    // A control plane in a namespace the simulator ignores: its pod turns Ready (kwok), but nothing
    // listens at its upstream, so /readyz never answers through it.
    const plain = await createNamespace(admin, "proxy-dead");
    cleanups.push(plain.remove);
    const deadPort = await freePort();
    await createSleepingCluster(plain.name, "gamma", {
      "slumber.dev/upstream": `https://127.0.0.1:${deadPort}`,
    });
    const started = Date.now();
    const answer = await httpsGet(proxyUrl(), `/vcluster/${plain.name}/gamma/api/v1/namespaces`, {
      ca: proxyCa,
      headers: { authorization: "Bearer an-oidc-token-the-api-server-would-check" },
    }).catch((err: Error) => ({ status: 0, body: err.message }));
    const waited = Date.now() - started;
    expect(answer.status).toBe(504);
    expect(JSON.parse(answer.body)).toMatchObject({ kind: "Status", code: 504, reason: "Timeout" });
    expect(waited).toBeGreaterThanOrEqual((WAKE_TIMEOUT_S - 1) * 1000);
    expect(await replicas(plain.name, "gamma")).toBe(1);
  }, 120_000);

  it("puts a woken cluster back to sleep and wakes it again on the next request", async () => {
    await putToSleep(ns, "alpha");
    const alice = await tenant(ns, "alpha");
    // Its data survived the sleep: the configmaps created before are still there.
    expect(await kubectl(alice.kubeconfig, "get", "configmaps", "-o", "name")).toContain(
      "configmap/streamed-",
    );
    expect(await awakeTransitions(ns, "alpha")).toBe(2);
  }, 180_000);
});
