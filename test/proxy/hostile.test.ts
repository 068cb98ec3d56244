// Issue 9: hostile input against the whole wake proxy (routing, credentials, hold, upstream), over real
// sockets: path traversal and encoded separators, thousands of unknown routes, oversized HTTP/2 header
// blocks and malformed upgrades. Each gets a clean answer (a 4xx with a Status, or an HTTP/2 stream
// refusal where no request exists yet), never a wake, never a request upstream, nothing kept in memory.
import { type ClientHttp2Session, connect as http2Connect } from "node:http2";
import { connect as tlsConnect } from "node:tls";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { pino } from "pino";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.js";
import { SlumberMetrics } from "../../src/metrics/registry.js";
import { Annotations } from "../../src/policy/annotations.js";
import { type ProxySizes, startWakeProxy, type WakeProxy } from "../../src/proxy/index.js";
import { Reconciler } from "../../src/reconciler/reconciler.js";
import { RouteTable } from "../../src/reconciler/routes.js";
import { recordingObserver, testConfig } from "../fakes/harness.js";
import { FakeKube } from "../fakes/kube.js";
import { type Backend, startBackend } from "./backend.js";
import { type ClusterPki, certsSecret, clusterPki } from "./pki.js";

const silent = pino({ level: "silent" });
const ago = (ms: number) => new Date(Date.now() - ms).toISOString().replace(/\.\d+Z$/, "Z");

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Heap in use after pending closes and timers ran and two full collections. */
async function settledHeap(): Promise<number> {
  await new Promise((r) => setTimeout(r, 200));
  gc();
  await new Promise((r) => setImmediate(r));
  gc();
  return process.memoryUsage().heapUsed;
}

const EMPTY: ProxySizes = {
  held: 0,
  holdClusters: 0,
  pools: 0,
  deniedProbes: 0,
  certs: 0,
  secretsFollowed: 0,
  discoveryClusters: 0,
  activityClusters: 0,
};

interface Answer {
  status: number;
  body: string;
  /** RST_STREAM code when the stream was refused (HTTP/2). */
  rst?: number;
}

describe("wake proxy under hostile input (real sockets)", () => {
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
      wakeTimeoutMs: 10_000,
      maxHeld: 1000,
    });
    proxyCa = kube.secrets.get("slumber/slumber-proxy-tls")?.["ca.crt"]?.toString() ?? "";
  });

  afterEach(async () => {
    await proxy.close(100);
    await reconciler.stop();
    await backend.close();
  });

  /** Raw HTTP/1.1 bytes over TLS with the tenant's certificate; all that came back by close or `waitMs`. */
  function raw(bytes: string, opts: { cert?: boolean; waitMs?: number } = {}): Promise<string> {
    return new Promise((resolve) => {
      const socket = tlsConnect({
        port: proxy.port,
        host: "127.0.0.1",
        ca: proxyCa,
        servername: "localhost",
        ALPNProtocols: ["http/1.1"],
        ...(opts.cert === false ? {} : { cert: pki.tenant.cert, key: pki.tenant.key }),
      });
      let text = "";
      let timer: NodeJS.Timeout | undefined;
      socket.on("data", (d: Buffer) => {
        text += d.toString("latin1");
      });
      socket.on("error", () => undefined);
      socket.on("close", () => {
        clearTimeout(timer);
        resolve(text);
      });
      socket.on("secureConnect", () => socket.write(bytes));
      timer = setTimeout(() => socket.destroy(), opts.waitMs ?? 2_000);
    });
  }

  const h2 = (): ClientHttp2Session => {
    const session = http2Connect(`https://127.0.0.1:${proxy.port}`, {
      ca: proxyCa,
      cert: pki.tenant.cert,
      key: pki.tenant.key,
      servername: "localhost",
    });
    session.on("error", () => undefined);
    return session;
  };

  /** One request on an HTTP/2 session with `:path` exactly as given (no client-side normalising). */
  function h2Request(session: ClientHttp2Session, headers: Record<string, string>): Promise<Answer> {
    return new Promise((resolve) => {
      const stream = session.request(headers);
      let status = 0;
      let body = "";
      stream.on("response", (h) => {
        status = Number(h[":status"]);
      });
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        body += chunk;
      });
      stream.on("error", () => undefined);
      stream.on("close", () => resolve({ status, body, ...(stream.rstCode ? { rst: stream.rstCode } : {}) }));
    });
  }

  const statusLine = (text: string) => /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
  const bodyOf = (text: string) => JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4));

  /** Nothing about vc-a changed: not woken, nothing sent to its API server, nothing held. */
  function expectUntouched(): void {
    expect(kube.controlPlane("vc-a", "a").replicas).toBe(0);
    expect(observer.transitions).toEqual([]);
    expect(backend.seen).toEqual([]);
    expect(proxy.sizes().held).toBe(0);
  }

  // Every form names the sleeping cluster vc-a/a (or tries to reach past it); none may wake it.
  const traversals: [string, number][] = [
    ["/vcluster/../vcluster/vc-a/a/api", 400],
    ["/vcluster/vc-a/a/../../../etc/passwd", 400],
    ["/vcluster/vc-a/a/api/../../b/api", 400],
    ["/vcluster/vc-a/a/./api", 400],
    ["/vcluster/vc-a/a/..", 400],
    ["/vcluster/vc-a%2Fa/api", 400],
    ["/vcluster/vc-a%2fa/api", 400],
    ["/vcluster/vc-a/a%2F..%2Fb/api", 400],
    ["/vcluster/vc-a/a/%2e%2e/%2e%2e/api", 400],
    ["/vcluster/vc-a/a/%2E%2E/api", 400],
    ["/vcluster/vc-a/a/.%2e/api", 400],
    ["/vcluster/%2e%2e/vc-a/a/api", 400],
    ["/vcluster/vc-a/a/api%5c..%5capi", 400],
    ["/vcluster/vc-a/a/api\\..\\b", 400],
    ["/vcluster/vc-a/a/api/v1/namespaces/%00", 400],
    ["/vcluster/vc-a/a/api/x#/../../b", 400],
    ["https://evil.example/vcluster/vc-a/a/api", 400],
    ["*", 400],
    ["//vcluster/vc-a/a/api", 404],
    ["/vcluster//vc-a/a/api", 404],
    ["/vcluster/vc-a//a/api", 404],
    ["/VCLUSTER/vc-a/a/api", 404],
    ["/vcluster/VC-A/a/api", 404],
  ];

  it.each(traversals)("HTTP/1.1 %s: %i with a Status, no wake, nothing upstream", async (path, code) => {
    const text = await raw(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    expect(statusLine(text), text).toBe(String(code));
    expect(bodyOf(text)).toMatchObject({ kind: "Status", code });
    await new Promise((r) => setTimeout(r, 50));
    expectUntouched();
  });

  it("HTTP/2 with the same paths as :path: the same answers, no wake, nothing upstream", async () => {
    const session = h2();
    for (const [path, code] of traversals) {
      const answer = await h2Request(session, {
        ":method": path === "*" ? "OPTIONS" : "GET",
        ":path": path.startsWith("https://") ? "/vcluster/../x" : path,
      });
      expect(answer.status, `${path}: ${answer.body}`).toBe(path.startsWith("https://") ? 400 : code);
      expect(JSON.parse(answer.body)).toMatchObject({ kind: "Status" });
    }
    session.close();
    await new Promise((r) => setTimeout(r, 50));
    expectUntouched();
  });

  it("an awake cluster gets the path and query exactly as sent: nothing decoded, nothing normalised", async () => {
    const waking = raw(
      "GET /vcluster/vc-a/a/version HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
      {
        waitMs: 5_000,
      },
    );
    await expect.poll(() => kube.controlPlane("vc-a", "a").replicas, { timeout: 2_000 }).toBe(1);
    kube.setReady("vc-a", "a", 1);
    await reconciler.reconcileTarget({ kind: "vcluster", namespace: "vc-a", name: "a" });
    expect(statusLine(await waking)).toBe("200");
    const sent = [
      "/api/v1/namespaces/%252e%252e/pods",
      "/api/v1/pods?labelSelector=app.kubernetes.io%2Fname%3D..%2F..&fieldSelector=x%00",
      "/api/v1/namespaces/default/pods/..;/x",
      "/api/v1/namespaces/default/configmaps/a..b",
    ];
    for (const path of sent) {
      const text = await raw(
        `GET /vcluster/vc-a/a${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
      );
      expect(statusLine(text), text).toBe("200");
    }
    const seen = backend.seen.map((s) => s.url).filter((u) => sent.includes(u));
    expect(seen).toEqual(sent);
  });

  it("thousands of unknown routes: a 404 Status each, and nothing grows (maps, metric series, Secret watches, heap)", async () => {
    const secretReadsBefore = kube.secretReads;
    const session = h2();
    const paths = (round: number, n: number) =>
      Array.from({ length: n }, (_, i) => {
        const k = `${round}-${i}`;
        return [
          `/vcluster/ns-${k}/c-${k}/api/v1/pods`,
          `/vcluster/vc-a/nope-${k}/api`,
          `/api/v1/namespaces/${k}`,
          `/${k}`,
        ][i % 4] as string;
      });
    const burst = async (round: number, n: number) => {
      const all = paths(round, n);
      // 250 streams in flight at a time on one connection, like a client with many goroutines.
      for (let at = 0; at < all.length; at += 250) {
        const answers = await Promise.all(
          all.slice(at, at + 250).map((p) => h2Request(session, { ":method": "GET", ":path": p })),
        );
        for (const answer of answers) {
          expect(answer.status).toBe(404);
          expect(JSON.parse(answer.body)).toMatchObject({ kind: "Status", code: 404, reason: "NotFound" });
        }
      }
    };
    await burst(0, 1_000); // warm-up
    const baseline = await settledHeap();
    await burst(1, 5_000);
    // And over HTTP/1.1 keep-alive: 200 on one connection.
    let pipelined = "";
    for (let i = 0; i < 200; i++)
      pipelined += `GET /vcluster/ns-h1-${i}/c/api HTTP/1.1\r\nHost: localhost\r\n${i === 199 ? "Connection: close\r\n" : ""}\r\n`;
    const text = await raw(pipelined, { waitMs: 10_000 });
    expect(text.match(/HTTP\/1\.1 404 Not Found\r\n/g)).toHaveLength(200);
    const after = await settledHeap();
    session.close();

    expect(proxy.sizes()).toEqual(EMPTY);
    expect(kube.secretReads).toBe(secretReadsBefore);
    expect((await metrics.metricsText()).match(/^slumber_proxy_\w+\{/gm)).toBeNull();
    expectUntouched();
    const grownKiB = Math.round((after - baseline) / 1024);
    console.log(
      `[hostile] heap after 1,000 unknown routes ${Math.round(baseline / 1024)} KiB, after 5,200 more ${Math.round(after / 1024)} KiB (${grownKiB >= 0 ? "+" : ""}${grownKiB} KiB)`,
    );
    expect(after - baseline).toBeLessThan(2 * 1024 * 1024);
  });

  it("an HTTP/2 header block over 64 KiB or over 256 fields: the stream is refused, the connection and server go on", async () => {
    const session = h2();
    const big = await h2Request(session, { ":path": "/vcluster/vc-a/a/api", "x-big": "a".repeat(70 * 1024) });
    expect(big.status).toBe(0);
    expect(big.rst).toBeGreaterThan(0);
    const fields: Record<string, string> = { ":path": "/vcluster/vc-a/a/api" };
    for (let i = 0; i < 300; i++) fields[`x-f${i}`] = "v";
    const many = await h2Request(h2(), fields);
    expect(many.status).toBe(0);
    expect(many.rst).toBeGreaterThan(0);
    const next = await h2Request(h2(), { ":path": "/vcluster/vc-a/zzz/api" });
    expect(next.status).toBe(404);
    expectUntouched();
    session.close();
  });

  it("HTTP/1.1 heads over 16 KiB (one big field, or thousands of small ones): 431 with a Status", async () => {
    for (const head of [
      `GET /vcluster/vc-a/a/api HTTP/1.1\r\nHost: localhost\r\nX-Big: ${"a".repeat(20 * 1024)}\r\n\r\n`,
      `GET /vcluster/vc-a/a/api HTTP/1.1\r\nHost: localhost\r\n${Array.from({ length: 3_000 }, (_, i) => `x-${i}: v\r\n`).join("")}\r\n`,
    ]) {
      const text = await raw(head);
      expect(statusLine(text)).toBe("431");
      expect(bodyOf(text)).toMatchObject({ kind: "Status", code: 431 });
    }
    expectUntouched();
  });

  describe("malformed and hostile upgrades", () => {
    const upgradeHead = (path: string, extra = "") =>
      `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;

    it.each([
      ["a dot segment", 400, "/vcluster/vc-a/a/../b/api/v1/namespaces/d/pods/p/exec", true],
      ["an encoded slash", 400, "/vcluster/vc-a%2Fa/api/v1/namespaces/d/pods/p/exec", true],
      ["an unknown cluster", 404, "/vcluster/vc-a/zzz/api/v1/namespaces/d/pods/p/exec", true],
      ["no credentials", 401, "/vcluster/vc-a/a/api/v1/namespaces/d/pods/p/exec", false],
    ])("%s: %i with a Status on the raw socket, no wake", async (_name, code, path, cert) => {
      const text = await raw(upgradeHead(path), { cert });
      expect(statusLine(text), text).toBe(String(code));
      expect(bodyOf(text)).toMatchObject({ kind: "Status", code });
      expectUntouched();
    });

    it("an upgrade that is neither GET nor POST: 400 with a Status, no wake", async () => {
      const del = await raw(
        "DELETE /vcluster/vc-a/a/api HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n",
      );
      expect(statusLine(del)).toBe("400");
      expect(bodyOf(del).message).toContain("an upgrade must be GET (WebSocket) or POST (SPDY)");
      expectUntouched();
    });

    it("an upgrade held for a sleeping cluster whose client goes away leaves nothing held", async () => {
      const socket = tlsConnect({
        port: proxy.port,
        host: "127.0.0.1",
        ca: proxyCa,
        servername: "localhost",
        ALPNProtocols: ["http/1.1"],
        cert: pki.tenant.cert,
        key: pki.tenant.key,
      });
      socket.on("error", () => undefined);
      await new Promise<void>((resolve) => socket.on("secureConnect", () => resolve()));
      socket.write(upgradeHead("/vcluster/vc-a/a/api/v1/namespaces/d/pods/p/exec?command=sh"));
      await expect.poll(() => proxy.sizes().held, { timeout: 2_000 }).toBe(1);
      expect((await metrics.metricsText()).match(/slumber_proxy_held_requests\{[^}]*\} 1/)).not.toBeNull();
      socket.destroy();
      await expect.poll(() => proxy.sizes().held, { timeout: 2_000 }).toBe(0);
      expect((await metrics.metricsText()).match(/slumber_proxy_held_requests\{[^}]*\} 0/)).not.toBeNull();
      // The wake it asked for goes on (it was a real request); the proxy still serves.
      expect(kube.controlPlane("vc-a", "a").replicas).toBe(1);
      const next = await raw(
        "GET /vcluster/vc-a/zzz/api HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
      );
      expect(statusLine(next)).toBe("404");
    });
  });
});

describe("wake proxy before the agent's first pass", () => {
  it("thousands of requests waiting for the routes are answered 404 after the wait, and none is retained", async () => {
    const kube = new FakeKube();
    // Routes that never complete: the agent's first pass cannot finish (the API server is down).
    const routes = new RouteTable();
    const proxy = await startWakeProxy({
      port: 0,
      host: "127.0.0.1",
      kube,
      routes,
      wakePort: { requestWake: () => undefined, recordActivity: () => undefined },
      observer: new SlumberMetrics({ defaultMetrics: false }),
      clock: systemClock,
      logger: silent,
      agentNamespace: "slumber",
      // The wait for the first pass is --wake-timeout.
      wakeTimeoutMs: 300,
      maxHeld: 1000,
    });
    const ca = kube.secrets.get("slumber/slumber-proxy-tls")?.["ca.crt"]?.toString() ?? "";
    const session = http2Connect(`https://127.0.0.1:${proxy.port}`, { ca, servername: "localhost" });
    session.on("error", () => undefined);
    const one = (path: string) =>
      new Promise<number>((resolve) => {
        const stream = session.request({ ":path": path });
        let status = 0;
        stream.on("response", (h) => {
          status = Number(h[":status"]);
        });
        stream.on("data", () => undefined);
        stream.on("error", () => undefined);
        stream.on("close", () => resolve(status));
      });
    const burst = async (round: number, n: number) => {
      for (let at = 0; at < n; at += 500) {
        const statuses = await Promise.all(
          Array.from({ length: Math.min(500, n - at) }, (_, i) =>
            one(`/vcluster/ns-${round}-${at + i}/c/api`),
          ),
        );
        expect(statuses.every((s) => s === 404)).toBe(true);
      }
    };
    try {
      await burst(0, 1_000);
      const baseline = await settledHeap();
      await burst(1, 10_000);
      const after = await settledHeap();
      const grownKiB = Math.round((after - baseline) / 1024);
      console.log(
        `[hostile] before the first pass: heap after 1,000 waits ${Math.round(baseline / 1024)} KiB, after 10,000 more ${Math.round(after / 1024)} KiB (${grownKiB >= 0 ? "+" : ""}${grownKiB} KiB)`,
      );
      expect(proxy.sizes()).toEqual(EMPTY);
      // Every wait used to leave a reaction on the never-settling "first pass done" promise.
      expect(after - baseline).toBeLessThan(1024 * 1024);
    } finally {
      session.close();
      await proxy.close(100);
    }
  });
});
