// Issue 9: a woken cluster that never becomes ready. The real reconciler on the in-memory kube, the real
// proxy on a TLS port, hundreds of held requests over real sockets: every one is answered 504 with a
// Status at --wake-timeout, the held-requests gauge and the proxy's own bookkeeping go back to 0, and
// the heap returns to its baseline after a garbage collection.
import { type ClientHttp2Session, connect as http2Connect } from "node:http2";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
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
const WAKE_TIMEOUT_MS = 2_000;
/** How late past the timeout a 504 may arrive on this (shared, 2-core) machine. */
const LATE_MS = 2_500;

/** A real collection on demand, without starting the worker with --expose-gc. */
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

interface Answer {
  status: number;
  body: string;
  ms: number;
}

describe("held requests for a woken cluster that never becomes ready (real sockets)", () => {
  let kube: FakeKube;
  let reconciler: Reconciler;
  let proxy: WakeProxy;
  let backend: Backend;
  let pki: ClusterPki;
  let proxyCa: string;
  let metrics: SlumberMetrics;
  const observer = recordingObserver();

  beforeAll(() => {
    pki = clusterPki("a");
  });

  beforeEach(async () => {
    backend = await startBackend(pki);
    kube = new FakeKube();
    // The wake is written (replicas 1), but the control plane never reports a Ready replica.
    kube.autoReady = false;
    kube.addControlPlane({
      namespace: "vc-a",
      release: "a",
      replicas: 0,
      annotations: {
        [Annotations.enabled]: "true",
        [Annotations.sleepAfter]: "1h",
        [Annotations.lastActivity]: ago(3 * 3_600_000),
        [Annotations.loftPaused]: "true",
        [Annotations.loftPausedReplicas]: "1",
        [Annotations.sleepingSince]: ago(2 * 3_600_000),
        [Annotations.sleepReason]: "inactivity",
        [Annotations.upstream]: backend.url,
      },
    });
    kube.setReady("vc-a", "a", 0);
    kube.setSecret("vc-a", "a-certs", certsSecret(pki));
    metrics = new SlumberMetrics({ defaultMetrics: false });
    observer.transitions.length = 0;
    reconciler = new Reconciler({
      kube,
      config: testConfig({ agentNamespace: "slumber" }),
      clock: systemClock,
      observer,
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
      wakeTimeoutMs: WAKE_TIMEOUT_MS,
      maxHeld: 1000,
    });
    proxyCa = kube.secrets.get("slumber/slumber-proxy-tls")?.["ca.crt"]?.toString() ?? "";
  });

  afterEach(async () => {
    await proxy.close(100);
    await reconciler.stop();
    await backend.close();
  });

  const h2 = (): ClientHttp2Session =>
    http2Connect(`https://127.0.0.1:${proxy.port}`, {
      ca: proxyCa,
      cert: pki.tenant.cert,
      key: pki.tenant.key,
      servername: "localhost",
    });

  /** One GET on an HTTP/2 session (kubectl speaks HTTP/2); never rejects. */
  function h2Get(session: ClientHttp2Session, path: string): Promise<Answer> {
    const started = Date.now();
    return new Promise((resolve) => {
      const stream = session.request({ ":path": path });
      let status = 0;
      let body = "";
      stream.on("response", (headers) => {
        status = Number(headers[":status"]);
      });
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        body += chunk;
      });
      stream.on("error", (err) => resolve({ status: 0, body: err.message, ms: Date.now() - started }));
      stream.on("close", () => resolve({ status, body, ms: Date.now() - started }));
    });
  }

  /** One GET over HTTP/1.1 (undici, a connection of its own per request in flight); never rejects. */
  async function h1Get(agent: Agent, path: string): Promise<Answer> {
    const started = Date.now();
    try {
      const answer = await request(`https://127.0.0.1:${proxy.port}${path}`, { dispatcher: agent });
      return { status: answer.statusCode, body: await answer.body.text(), ms: Date.now() - started };
    } catch (err) {
      return { status: 0, body: (err as Error).message, ms: Date.now() - started };
    }
  }

  const h1Agent = () =>
    new Agent({
      connect: { ca: proxyCa, cert: pki.tenant.cert, key: pki.tenant.key, servername: "localhost" },
    });

  async function sample(name: string, labels: string): Promise<number | undefined> {
    const line = (await metrics.metricsText()).split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
    return line === undefined ? undefined : Number(line.split(" ").at(-1));
  }
  const held = () => sample("slumber_proxy_held_requests", 'namespace="vc-a",name="a"');
  const outcome = (o: string) =>
    sample("slumber_proxy_requests_total", `namespace="vc-a",name="a",outcome="${o}"`);

  function expectTimedOut(answers: Answer[]): void {
    for (const answer of answers) {
      expect(answer.status, answer.body).toBe(504);
      expect(JSON.parse(answer.body)).toEqual({
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: "virtual cluster vc-a/a did not become ready within 2s (--wake-timeout)",
        reason: "Timeout",
        code: 504,
      });
    }
    const times = answers.map((a) => a.ms);
    // Each request's own deadline: not early, and not much late.
    expect(Math.min(...times)).toBeGreaterThanOrEqual(WAKE_TIMEOUT_MS - 50);
    expect(Math.max(...times)).toBeLessThan(WAKE_TIMEOUT_MS + LATE_MS);
  }

  it("control plane never Ready: 500 requests over HTTP/2 and 20 over HTTP/1.1 all get 504 at the timeout, and nothing is left held", async () => {
    const session = h2();
    const agent = h1Agent();
    const path = "/vcluster/vc-a/a/api/v1/namespaces";
    const pending = [
      ...Array.from({ length: 500 }, () => h2Get(session, path)),
      ...Array.from({ length: 20 }, () => h1Get(agent, path)),
    ];
    await expect.poll(held, { timeout: WAKE_TIMEOUT_MS, interval: 20 }).toBe(520);
    expect(proxy.sizes().held).toBe(520);
    const answers = await Promise.all(pending);
    expectTimedOut(answers);

    expect(await held()).toBe(0);
    expect(await outcome("held")).toBe(520);
    expect(await outcome("timeout")).toBe(520);
    expect(await outcome("forwarded")).toBeUndefined();
    expect(proxy.sizes()).toMatchObject({ held: 0, holdClusters: 1, discoveryClusters: 0 });
    // Woken once, for all of them; the API server behind was never asked anything (not even /readyz).
    expect(kube.controlPlane("vc-a", "a").replicas).toBe(1);
    expect(observer.transitions.filter((t) => t.to === "awake")).toHaveLength(1);
    expect(backend.seen).toEqual([]);
    session.close();
    await agent.close();
  });

  it("Ready by watch but /readyz never answers 200: probed until the timeout, 300 requests get 504, then the probing stops", async () => {
    backend.ready = false;
    const session = h2();
    const path = "/vcluster/vc-a/a/api/v1/namespaces";
    const first = h2Get(session, path);
    await expect.poll(() => kube.controlPlane("vc-a", "a").replicas, { timeout: 2_000 }).toBe(1);
    kube.setReady("vc-a", "a", 1);
    await reconciler.reconcileTarget({ kind: "vcluster", namespace: "vc-a", name: "a" });
    const answers = await Promise.all([first, ...Array.from({ length: 299 }, () => h2Get(session, path))]);
    for (const answer of answers) expect(answer.status, answer.body).toBe(504);
    expect(answers.every((a) => JSON.parse(a.body).reason === "Timeout")).toBe(true);
    const probes = () => backend.seen.filter((s) => s.url === "/readyz").length;
    expect(probes()).toBeGreaterThan(3);
    // Only probes reached the API server; no held request was let through.
    expect(backend.seen.every((s) => s.url === "/readyz")).toBe(true);
    expect(await held()).toBe(0);
    expect(proxy.sizes().held).toBe(0);
    const after = probes();
    await new Promise((r) => setTimeout(r, 500));
    expect(probes()).toBeLessThanOrEqual(after + 1);
    session.close();
  });

  it("the heap returns to its baseline after rounds of 500 timed-out requests", async () => {
    const path = "/vcluster/vc-a/a/api/v1/namespaces";
    const round = async () => {
      const session = h2();
      const answers = await Promise.all(Array.from({ length: 500 }, () => h2Get(session, path)));
      expect(answers.every((a) => a.status === 504)).toBe(true);
      await new Promise<void>((resolve) => session.close(resolve));
    };
    const settledHeap = async () => {
      // Let closed sockets and timers finish, then collect twice (weak references, finalizers).
      await new Promise((r) => setTimeout(r, 200));
      gc();
      await new Promise((r) => setImmediate(r));
      gc();
      return process.memoryUsage().heapUsed;
    };
    await round(); // warm-up: code paths compiled, TLS contexts, metric series
    const baseline = await settledHeap();
    const rounds = 3;
    for (let i = 0; i < rounds; i++) await round();
    const after = await settledHeap();
    const grownKiB = Math.round((after - baseline) / 1024);
    console.log(
      `[never-ready] heap after warm-up ${Math.round(baseline / 1024)} KiB, after ${rounds} more rounds of 500 timed-out requests ${Math.round(after / 1024)} KiB (${grownKiB >= 0 ? "+" : ""}${grownKiB} KiB)`,
    );
    expect(proxy.sizes()).toMatchObject({ held: 0, holdClusters: 1 });
    expect(await held()).toBe(0);
    // 1,500 leaked exchanges (request, response, stream, timer, closure) would be several MiB.
    expect(after - baseline).toBeLessThan(2 * 1024 * 1024);
  });
});
