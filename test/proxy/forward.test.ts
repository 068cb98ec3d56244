// Forwarding over real sockets on port 0: headers as the API server must see them, and a connection
// refused right after readiness retried instead of answered 502.
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createServer as createNetServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseClusterCerts } from "../../src/proxy/credentials.js";
import { exchangeOf } from "../../src/proxy/exchange.js";
import { Upstreams, upstreamHeaders } from "../../src/proxy/forward.js";
import type { ClusterRoute } from "../../src/proxy/port.js";
import { systemTimers } from "../../src/reconciler/timers.js";
import { type Backend, startBackend } from "./backend.js";
import { type ClusterPki, certsSecret, clusterPki } from "./pki.js";

let pki: ClusterPki;
beforeAll(() => {
  pki = clusterPki("f");
});

describe("upstreamHeaders", () => {
  const raw = [
    "Host",
    "proxy:8443",
    "Connection",
    "keep-alive",
    "Authorization",
    "Bearer t",
    "X-Remote-User",
    "mallory",
    "x-remote-group",
    "system:masters",
    "X-Remote-Extra-Scopes",
    "all",
    "X-Stream-Protocol-Version",
    "v5.channel.k8s.io",
    "X-Stream-Protocol-Version",
    "v4.channel.k8s.io",
    ":path",
    "/x",
    "Accept",
    "application/json",
  ];
  it("drops hop-by-hop, pseudo and X-Remote-* headers and keeps repeated ones apart", () => {
    expect(upstreamHeaders(raw, { kind: "bearer" })).toEqual([
      "Authorization",
      "Bearer t",
      "X-Stream-Protocol-Version",
      "v5.channel.k8s.io",
      "X-Stream-Protocol-Version",
      "v4.channel.k8s.io",
      "Accept",
      "application/json",
    ]);
  });
  it("drops Content-Length on an upgrade (client-go's SPDY POST sends 0; undici refuses it)", () => {
    expect(
      upstreamHeaders(["Content-Length", "0", "Upgrade", "SPDY/3.1", "X-A", "1"], { kind: "bearer" }, true),
    ).toEqual(["X-A", "1"]);
    expect(upstreamHeaders(["Content-Length", "2"], { kind: "bearer" })).toEqual(["Content-Length", "2"]);
  });
  it("forwards a certificate identity as X-Remote-User/Group, without any Authorization", () => {
    const out = upstreamHeaders(raw, { kind: "certificate", user: "alice", groups: ["dev", "ops"] });
    expect(out).not.toContain("Authorization");
    expect(out).not.toContain("mallory");
    expect(out.slice(-6)).toEqual([
      "X-Remote-User",
      "alice",
      "X-Remote-Group",
      "dev",
      "X-Remote-Group",
      "ops",
    ]);
  });
});

describe("Upstreams.forward", () => {
  let front: ReturnType<typeof createHttpServer>;
  let frontPort: number;
  let backendPort: number;
  let backend: Backend | undefined;
  const upstreams = new Upstreams({ timers: systemTimers });

  beforeAll(async () => {
    backendPort = await new Promise<number>((resolve) => {
      const probe = createNetServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const route: ClusterRoute = {
      namespace: "vc-f",
      name: "f",
      upstream: `https://127.0.0.1:${backendPort}`,
      asleep: false,
      ready: true,
      ignoreUserAgents: [],
    };
    const certs = parseClusterCerts(certsSecret(pki)).certs;
    front = createHttpServer((req, res) => {
      const ex = exchangeOf(req, res, Date.now());
      ex.route = route;
      void upstreams.forward(
        ex,
        upstreams.pool(route, certs, "bearer"),
        upstreamHeaders(req.rawHeaders, { kind: "bearer" }),
        req.url ?? "/",
      );
    });
    await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve));
    frontPort = (front.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await upstreams.close();
    await backend?.close();
    await new Promise((r) => front.close(r));
  });

  it("retries a refused connection until the API server listens, then streams its answer", async () => {
    const answer = fetch(`http://127.0.0.1:${frontPort}/api/v1/pods`, {
      headers: { authorization: "Bearer t" },
    });
    await new Promise((r) => setTimeout(r, 300));
    backend = await startBackend(pki, backendPort);
    const res = await answer;
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(await res.json()).toMatchObject({ path: "/api/v1/pods", authorization: "present", user: null });
  });

  it("relays a POST body and answers 502 with a Status when the upstream stays down", async () => {
    const ok = await fetch(`http://127.0.0.1:${frontPort}/api/v1/namespaces`, {
      method: "POST",
      body: '{"kind":"Namespace"}',
      headers: { "content-type": "application/json" },
    });
    expect(await ok.json()).toMatchObject({ method: "POST", body: '{"kind":"Namespace"}' });
    await backend?.close();
    backend = undefined;
    const down = await fetch(`http://127.0.0.1:${frontPort}/api/v1/pods`);
    expect(down.status).toBe(502);
    expect(await down.json()).toMatchObject({
      kind: "Status",
      code: 502,
      message: expect.stringContaining("ECONNREFUSED"),
    });
  });
});

describe("Upstreams.probeReady", () => {
  it("is ready on 200, not on 500, and on a refused probe only once the refusal has lasted 5 s", async () => {
    const { createServer } = await import("node:https");
    let status = 500;
    const server = createServer({ cert: pki.serving.cert, key: pki.serving.key }, (_req, res) => {
      res.writeHead(status).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const route: ClusterRoute = {
      namespace: "vc-p",
      name: "p",
      upstream: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
      asleep: false,
      ready: true,
      ignoreUserAgents: [],
    };
    const certs = { ...parseClusterCerts(certsSecret(pki)).certs, frontProxy: null };
    const upstreams = new Upstreams({ timers: systemTimers });
    try {
      expect(await upstreams.probeReady(route, certs, 0)).toBe(false);
      status = 403;
      expect(await upstreams.probeReady(route, certs, 1_000)).toBe(false);
      expect(await upstreams.probeReady(route, certs, 5_999)).toBe(false);
      expect(await upstreams.probeReady(route, certs, 6_000)).toBe(true);
      status = 200;
      expect(await upstreams.probeReady(route, certs, 6_001)).toBe(true);
    } finally {
      await upstreams.close();
      server.close();
    }
  });
});
