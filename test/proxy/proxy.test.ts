// The wake proxy end to end in one process: the real reconciler on the in-memory kube fake, the real
// proxy on a TLS port, and a TLS stand-in for a virtual cluster's API server.
import { connect as http2Connect } from "node:http2";
import { connect as tlsConnect } from "node:tls";
import { pino } from "pino";
import { Agent, request } from "undici";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.js";
import { SlumberMetrics } from "../../src/metrics/registry.js";
import { Annotations } from "../../src/policy/annotations.js";
import { startWakeProxy, type WakeProxy } from "../../src/proxy/index.js";
import { Reconciler } from "../../src/reconciler/reconciler.js";
import { recordingObserver, testConfig } from "../fakes/harness.js";
import { FakeKube } from "../fakes/kube.js";
import { type Backend, startBackend } from "./backend.js";
import { type ClusterPki, certsSecret, clusterPki } from "./pki.js";

const silent = pino({ level: "silent" });
const ago = (ms: number) => new Date(Date.now() - ms).toISOString().replace(/\.\d+Z$/, "Z");

function sleepingPlane(
  kube: FakeKube,
  namespace: string,
  name: string,
  upstream: string,
  extra: Record<string, string> = {},
) {
  kube.addControlPlane({
    namespace,
    release: name,
    replicas: 0,
    annotations: {
      [Annotations.enabled]: "true",
      [Annotations.sleepAfter]: "1h",
      [Annotations.lastActivity]: ago(3 * 3_600_000),
      [Annotations.loftPaused]: "true",
      [Annotations.loftPausedReplicas]: "1",
      [Annotations.sleepingSince]: ago(2 * 3_600_000),
      [Annotations.sleepReason]: "inactivity",
      [Annotations.upstream]: upstream,
      ...extra,
    },
  });
  kube.setReady(namespace, name, 0);
}

describe("wake proxy (in-memory cluster, real sockets)", () => {
  let kube: FakeKube;
  let reconciler: Reconciler;
  let proxy: WakeProxy;
  let backend: Backend;
  let pkiA: ClusterPki;
  let pkiB: ClusterPki;
  let proxyCa: string;
  let metrics: SlumberMetrics;
  const observer = recordingObserver();

  const client = (pki: ClusterPki | null) =>
    new Agent({
      connect: {
        ca: proxyCa,
        ...(pki ? { cert: pki.tenant.cert, key: pki.tenant.key } : {}),
        servername: "localhost",
      },
    });
  const url = (path: string) => `https://127.0.0.1:${proxy.port}${path}`;
  const plane = (ns: string, name: string) => kube.controlPlane(ns, name);

  beforeAll(() => {
    pkiA = clusterPki("a");
    pkiB = clusterPki("b");
  });

  beforeEach(async () => {
    backend = await startBackend(pkiA);
    kube = new FakeKube();
    kube.autoReady = false;
    sleepingPlane(kube, "vc-a", "a", backend.url);
    sleepingPlane(kube, "vc-b", "b", backend.url, { [Annotations.ignoreUserAgents]: "argocd*" });
    kube.setSecret("vc-a", "a-certs", certsSecret(pkiA));
    kube.setSecret("vc-b", "b-certs", { ...certsSecret(pkiB), "ca.crt": Buffer.from(pkiA.serverCa.cert) });
    metrics = new SlumberMetrics({ defaultMetrics: false });
    reconciler = new Reconciler({
      kube,
      config: testConfig({ agentNamespace: "slumber" }),
      clock: systemClock,
      observer: { ...observer, transition: (ref, to, reason) => observer.transition(ref, to, reason) },
      logger: silent,
    });
    await reconciler.start();
    proxy = await startWakeProxy({
      port: 0,
      host: "127.0.0.1",
      kube,
      routes: reconciler.routes,
      wakePort: reconciler,
      observer: metrics,
      clock: systemClock,
      logger: silent,
      agentNamespace: "slumber",
      wakeTimeoutMs: 10_000,
      maxHeld: 1000,
      wakeRetryMs: 500,
    });
    proxyCa = kube.secrets.get("slumber/slumber-proxy-tls")?.["ca.crt"]?.toString() ?? "";
    observer.transitions.length = 0;
  });

  afterEach(async () => {
    await proxy.close(100);
    await reconciler.stop();
    await backend.close();
  });

  /** The control plane came up: the informer would see readyReplicas; the pass publishes the route. */
  async function becomeReady(ns: string, name: string) {
    await expect.poll(() => plane(ns, name).replicas, { timeout: 5_000 }).toBe(1);
    kube.setReady(ns, name, 1);
    await reconciler.reconcileTarget({ kind: "vcluster", namespace: ns, name });
  }

  it("holds 20 parallel requests for a sleeping cluster, wakes it once, and answers all 20", async () => {
    const agent = client(pkiA);
    const answers = Array.from({ length: 20 }, () =>
      request(url("/vcluster/vc-a/a/api/v1/namespaces"), { dispatcher: agent }).then(async (r) => ({
        status: r.statusCode,
        body: (await r.body.json()) as { user: string; groups: string[]; path: string },
      })),
    );
    await becomeReady("vc-a", "a");
    const results = await Promise.all(answers);
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(results[0]?.body).toMatchObject({
      user: "alice",
      groups: ["system:masters", "dev"],
      path: "/api/v1/namespaces",
    });
    expect(observer.transitions.filter((t) => t.key === "vcluster/vc-a/a" && t.to === "awake")).toHaveLength(
      1,
    );
    const annotations = plane("vc-a", "a").meta.annotations;
    expect(annotations[Annotations.lastActivitySource]).toBe("request");
    expect(Date.now() - Date.parse(annotations[Annotations.lastActivity] ?? "")).toBeLessThan(10_000);
    // The tenant's identity went upstream with the front-proxy certificate, never the tenant's own.
    const api = backend.seen.filter((s) => s.url === "/api/v1/namespaces");
    expect(api.every((s) => s.peer === "front-proxy-client")).toBe(true);
    const text = await metrics.metricsText();
    expect(text).toMatch(/slumber_proxy_requests_total\{namespace="vc-a",name="a",outcome="held"\} 20/);
    expect(text).toMatch(/slumber_proxy_requests_total\{namespace="vc-a",name="a",outcome="forwarded"\} 20/);
    await agent.close();
  });

  it("asks again for a wake whose write failed (API server down), and the held request completes before any full pass", async () => {
    // The agent's next full pass is 30 s away; the wake's first write times out.
    kube.failNext("patch", "timeout", (ref) => ref.namespace === "vc-a");
    const errorsBefore = observer.apiErrors.length;
    const agent = client(pkiA);
    const answer = request(url("/vcluster/vc-a/a/api/v1/namespaces"), { dispatcher: agent });
    await expect.poll(() => observer.apiErrors.length, { timeout: 2_000 }).toBeGreaterThan(errorsBefore);
    expect(plane("vc-a", "a").replicas).toBe(0);
    await becomeReady("vc-a", "a");
    expect((await answer).statusCode).toBe(200);
    expect(observer.transitions.filter((t) => t.key === "vcluster/vc-a/a" && t.to === "awake")).toHaveLength(
      1,
    );
    await agent.close();
  });

  it("answers 503 with Retry-After, not 401, when the cluster's Secret cannot be read yet (API server down), and does not wake", async () => {
    kube.secretsUnreachable();
    const agent = client(pkiA);
    const refused = await request(url("/vcluster/vc-a/a/api/v1/namespaces"), { dispatcher: agent });
    expect(refused.statusCode).toBe(503);
    expect(refused.headers["retry-after"]).toMatch(/^\d+$/);
    expect(await refused.body.json()).toMatchObject({
      kind: "Status",
      code: 503,
      reason: "ServiceUnavailable",
      message: expect.stringContaining("Secret vc-a/a-certs"),
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(plane("vc-a", "a").replicas).toBe(0);
    // Back: the same request is held, wakes the cluster and is answered.
    kube.secretsReachable();
    const answer = request(url("/vcluster/vc-a/a/api/v1/namespaces"), { dispatcher: agent });
    await becomeReady("vc-a", "a");
    expect((await answer).statusCode).toBe(200);
    await agent.close();
  });

  it("answers 401 with a Status body and does not wake without credentials, with a bad token, or with another cluster's certificate", async () => {
    const none = await request(url("/vcluster/vc-a/a/api"), { dispatcher: client(null) });
    expect(none.statusCode).toBe(401);
    expect(await none.body.json()).toMatchObject({ kind: "Status", code: 401, reason: "Unauthorized" });
    const forged = await request(url("/vcluster/vc-a/a/api/v1/pods"), {
      dispatcher: client(null),
      headers: { authorization: `Bearer ${fakeServiceAccountJwt()}` },
    });
    expect(forged.statusCode).toBe(401);
    expect(JSON.stringify(await forged.body.json())).not.toContain("eyJ");
    const crossed = await request(url("/vcluster/vc-b/b/api/v1/pods"), { dispatcher: client(pkiA) });
    expect(crossed.statusCode).toBe(401);
    expect(((await crossed.body.json()) as { message: string }).message).toContain(
      "not signed by this virtual cluster's client CA",
    );
    await new Promise((r) => setTimeout(r, 200));
    expect(plane("vc-a", "a").replicas).toBe(0);
    expect(plane("vc-b", "b").replicas).toBe(0);
    expect(observer.transitions).toEqual([]);
  });

  it("answers 404 with a Status for unknown clusters and hostile paths", async () => {
    const agent = client(pkiA);
    for (const path of [
      "/api",
      "/vcluster/vc-a/zzz/api",
      "/vcluster/vc-a/a/../b/api",
      "/vcluster/vc-a%2Fa/api",
    ]) {
      const answer = await request(url(path), { dispatcher: agent });
      expect([400, 404]).toContain(answer.statusCode);
      expect(await answer.body.json()).toMatchObject({ kind: "Status" });
    }
  });

  it("leaves a cluster asleep for an ignored user agent and for X-Sleep-Mode-Ignore", async () => {
    const agent = client(pkiB);
    const ua = await request(url("/vcluster/vc-b/b/api/v1/pods"), {
      dispatcher: agent,
      headers: { "user-agent": "argocd-application-controller/v2" },
    });
    expect(ua.statusCode).toBe(503);
    await ua.body.dump();
    const flagged = await request(url("/vcluster/vc-b/b/api/v1/pods"), {
      dispatcher: agent,
      headers: { "x-sleep-mode-ignore": "true" },
    });
    expect(flagged.statusCode).toBe(503);
    await flagged.body.dump();
    await new Promise((r) => setTimeout(r, 200));
    expect(plane("vc-b", "b").replicas).toBe(0);
  });

  it("streams a watch unbuffered over HTTP/2, and passes an SPDY upgrade with repeated headers", async () => {
    const wake = request(url("/vcluster/vc-a/a/version"), { dispatcher: client(pkiA) });
    await becomeReady("vc-a", "a");
    await (await wake).body.dump();

    const session = http2Connect(url(""), {
      ca: proxyCa,
      cert: pkiA.tenant.cert,
      key: pkiA.tenant.key,
      servername: "localhost",
    });
    const stream = session.request({ ":path": "/vcluster/vc-a/a/api/v1/namespaces?watch=true" });
    const lines: string[] = [];
    stream.on("data", (chunk: Buffer) => lines.push(chunk.toString()));
    await expect.poll(() => lines.join("")).toContain('"ADDED"');
    for (const w of backend.watches) w.write(`${JSON.stringify({ type: "MODIFIED" })}\n`);
    await expect.poll(() => lines.join("")).toContain('"MODIFIED"');
    stream.close();
    session.close();

    const raw = await upgrade(
      "POST /vcluster/vc-a/a/api/v1/namespaces/default/pods/p/exec?command=ls HTTP/1.1\r\nHost: localhost\r\n" +
        "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n" +
        "X-Stream-Protocol-Version: v3.channel.k8s.io\r\nX-Remote-User: mallory\r\n\r\n",
      "ping",
    );
    expect(raw).toMatch(/^HTTP\/1\.1 101/);
    expect(raw).toContain("X-Offered-Count: 2");
    expect(raw).toContain("echo:ping");
    const upgraded = backend.seen.find((s) => s.url.includes("/exec"));
    expect(upgraded?.headers["x-remote-user"]).toBe("alice");
    // HTTP/1.1 upstream even though the API server offers HTTP/2 (undici's HTTP/2 joins repeated headers).
    expect(upgraded?.httpVersion).toBe("1.1");
    expect(backend.seen.find((s) => s.url.includes("watch=true"))?.httpVersion).toBe("1.1");

    const refused = await upgrade(
      "GET /vcluster/vc-a/a/api/v1/namespaces/default/pods/refuse/exec HTTP/1.1\r\nHost: localhost\r\n" +
        "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
    expect(refused).toMatch(/^HTTP\/1\.1 404/);
    expect(refused).toContain('pods \\"nope\\" not found');
  });

  /** Writes a raw HTTP/1.1 upgrade with the tenant's certificate; returns all that came back within 500 ms. */
  function upgrade(head: string, payload?: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({
        port: proxy.port,
        host: "127.0.0.1",
        ca: proxyCa,
        cert: pkiA.tenant.cert,
        key: pkiA.tenant.key,
        servername: "localhost",
        ALPNProtocols: ["http/1.1"],
      });
      let got = "";
      socket.on("data", (d: Buffer) => {
        got += d.toString();
        if (payload && got.includes("\r\n\r\n") && !got.includes("echo:")) socket.write(payload);
      });
      socket.on("error", reject);
      socket.on("secureConnect", () => socket.write(head));
      setTimeout(() => {
        socket.destroy();
        resolve(got);
      }, 500);
    });
  }
});

/** A JWT that claims to be a service account but is signed by nobody's key. */
function fakeServiceAccountJwt(): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64({ alg: "RS256", typ: "JWT" })}.${b64({ sub: "system:serviceaccount:default:x", exp: Math.floor(Date.now() / 1000) + 600 })}.${Buffer.from("sig").toString("base64url")}`;
}
