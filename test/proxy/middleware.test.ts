// Each handler alone, with a stub `next`.
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { ActivityThrottle } from "../../src/proxy/activity.js";
import type { CertsSource } from "../../src/proxy/certs.js";
import { VerifiedTokens } from "../../src/proxy/credentials.js";
import { DiscoveryCache } from "../../src/proxy/discovery.js";
import type { Exchange, Handler } from "../../src/proxy/exchange.js";
import { WakeHold } from "../../src/proxy/hold.js";
import {
  type ProxyObserver,
  withActivity,
  withCredentials,
  withDiscovery,
  withErrors,
  withHold,
  withRouting,
} from "../../src/proxy/middleware.js";
import type { ClusterRoute } from "../../src/proxy/port.js";
import { RouteTable } from "../../src/reconciler/routes.js";
import { awakeRoute, exchange } from "../fakes/exchange.js";
import { FakeClock, ManualTimers, T0 } from "../fakes/harness.js";

const silent = pino({ level: "silent" });
const awake: ClusterRoute = { ...awakeRoute, ignoreUserAgents: ["argocd*"] };
const asleep: ClusterRoute = { ...awake, asleep: true, ready: false };

function stub() {
  const seen: Exchange[] = [];
  const next: Handler = async (ex) => {
    seen.push(ex);
  };
  return { next, seen };
}

const observer = () => {
  const counted: string[] = [];
  const o: ProxyObserver = { proxyRequest: (ns, name, outcome) => counted.push(`${ns}/${name}:${outcome}`) };
  return { o, counted };
};

describe("withRouting", () => {
  it("passes a managed cluster on with its route and upstream path; 404 Status otherwise", async () => {
    const routes = new RouteTable();
    routes.publish(awake);
    routes.setComplete();
    const { next, seen } = stub();
    const h = withRouting(next, { routes, baseDomain: undefined });
    await h(exchange("/vcluster/vc-a/a/api/v1/pods?limit=1").ex);
    expect(seen[0]?.target?.upstreamPath).toBe("/api/v1/pods?limit=1");
    expect(seen[0]?.route).toEqual(awake);
    const { ex, sent } = exchange("/vcluster/vc-a/other/api");
    await h(ex);
    expect(sent.status).toBe(404);
    expect(JSON.parse(sent.body)).toMatchObject({
      kind: "Status",
      reason: "NotFound",
      message: "no virtual cluster vc-a/other managed by Slumber",
    });
    expect(seen).toHaveLength(1);
  });

  it("while the agent starts, waits for its first pass before answering 404", async () => {
    const routes = new RouteTable();
    const { next, seen } = stub();
    const h = withRouting(next, { routes, baseDomain: undefined, startupWaitMs: 5_000 });
    const { ex } = exchange("/vcluster/vc-a/a/api");
    const pending = h(ex);
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toHaveLength(0);
    routes.publish(awake);
    routes.setComplete();
    await pending;
    expect(seen[0]?.route).toEqual(awake);
    const late = exchange("/vcluster/vc-a/zzz/api");
    await h(late.ex);
    expect(late.sent.status).toBe(404);
  });

  it("gives up waiting for a first pass after startupWaitMs", async () => {
    const { next } = stub();
    const h = withRouting(next, { routes: new RouteTable(), baseDomain: undefined, startupWaitMs: 30 });
    const { ex, sent } = exchange("/vcluster/vc-a/a/api");
    await h(ex);
    expect(sent.status).toBe(404);
  });
});

describe("withCredentials", () => {
  const certs: CertsSource = { certs: async () => null, forget: () => undefined };
  it("401s a request without credentials and never calls next", async () => {
    const { next, seen } = stub();
    const { o, counted } = observer();
    const h = withCredentials(next, {
      certs,
      verified: new VerifiedTokens(),
      clock: new FakeClock(T0),
      observer: o,
      logger: silent,
    });
    const { ex, sent } = exchange("/x", {}, { route: awake });
    await h(ex);
    expect(sent.status).toBe(401);
    expect(seen).toHaveLength(0);
    expect(counted).toEqual(["vc-a/a:rejected"]);
  });
  it("passes a bearer token through", async () => {
    const { next, seen } = stub();
    const h = withCredentials(next, {
      certs,
      verified: new VerifiedTokens(),
      clock: new FakeClock(T0),
      observer: observer().o,
      logger: silent,
    });
    await h(exchange("/x", { authorization: "Bearer abc" }, { route: awake }).ex);
    expect(seen[0]?.identity).toEqual({ kind: "bearer" });
  });
});

describe("withActivity", () => {
  function setup() {
    const reports: { at: number; source: string }[] = [];
    const clock = new FakeClock(T0);
    const { next, seen } = stub();
    const h = withActivity(next, {
      port: {
        requestWake: () => undefined,
        recordActivity: (_r, at, source) => reports.push({ at, source }),
      },
      throttle: new ActivityThrottle(60_000),
      clock,
    });
    return { h, seen, reports, clock };
  }
  const routed = (url: string, headers: Record<string, string> = {}, route = awake) =>
    exchange(url, headers, {
      route,
      target: { namespace: "vc-a", name: "a", upstreamPath: url, via: "path" },
    }).ex;

  it("reports a counted request once a minute, marks ignored ones, and leaves sleeping clusters to the wake", async () => {
    const s = setup();
    await s.h(routed("/api/v1/pods"));
    await s.h(routed("/api/v1/pods"));
    await s.h(routed("/readyz"));
    await s.h(routed("/api", { "user-agent": "argocd/2" }));
    await s.h(routed("/api", {}, asleep));
    expect(s.reports).toEqual([{ at: T0, source: "request" }]);
    expect(s.seen.map((e) => e.ignored)).toEqual([
      null,
      null,
      "health check /readyz",
      "ignored user agent",
      null,
    ]);
    s.clock.ms += 60_000;
    await s.h(routed("/api/v1/pods?watch=true"));
    expect(s.reports).toHaveLength(2);
  });
});

describe("withDiscovery", () => {
  it("keeps discovery while awake and answers it from memory while the cluster wakes, waking it", async () => {
    const clock = new FakeClock(T0);
    const routes = new RouteTable();
    routes.publish(asleep);
    const wakes: string[] = [];
    const hold = new WakeHold({
      routes,
      port: { requestWake: (r) => wakes.push(r.name), recordActivity: () => undefined },
      probe: async () => true,
      clock,
      timers: new ManualTimers(clock),
      logger: silent,
      maxHeld: 10,
      wakeTimeoutMs: 1000,
    });
    const cache = new DiscoveryCache();
    const { next, seen } = stub();
    const h = withDiscovery(next, { cache, hold });
    const target = (url: string) => ({
      namespace: "vc-a",
      name: "a",
      upstreamPath: url,
      via: "path" as const,
    });
    const first = exchange(
      "/api?timeout=32s",
      { accept: "application/json" },
      { route: awake, target: target("/api?timeout=32s") },
    );
    await h(first.ex);
    first.ex.keep?.(200, { "content-type": "application/json" }, Buffer.from('{"kind":"APIVersions"}'));
    const during = exchange(
      "/api?timeout=32s",
      { accept: "application/json" },
      { route: asleep, target: target("/api?timeout=32s") },
    );
    await h(during.ex);
    expect(during.sent).toMatchObject({ status: 200, body: '{"kind":"APIVersions"}' });
    expect(wakes).toEqual(["a"]);
    const other = exchange(
      "/api",
      { accept: "application/vnd.kubernetes.protobuf" },
      { route: asleep, target: target("/api") },
    );
    await h(other.ex);
    expect(seen).toHaveLength(2);
    hold.close();
  });
});

describe("withHold", () => {
  it("counts a held request and answers the hold's refusal with its Status", async () => {
    const clock = new FakeClock(T0);
    const timers = new ManualTimers(clock);
    const routes = new RouteTable();
    routes.publish(asleep);
    const hold = new WakeHold({
      routes,
      port: { requestWake: () => undefined, recordActivity: () => undefined },
      probe: async () => true,
      clock,
      timers,
      logger: silent,
      maxHeld: 10,
      wakeTimeoutMs: 1000,
    });
    const { next, seen } = stub();
    const { o, counted } = observer();
    const h = withHold(next, { hold, observer: o });
    const { ex, sent } = exchange("/api/v1/pods", {}, { route: asleep });
    const done = h(ex);
    timers.advance(1000);
    await done;
    expect(sent.status).toBe(504);
    expect(JSON.parse(sent.body)).toMatchObject({ kind: "Status", reason: "Timeout", code: 504 });
    expect(counted).toEqual(["vc-a/a:held", "vc-a/a:timeout"]);
    expect(seen).toHaveLength(0);
  });
});

describe("withErrors", () => {
  it("turns an unexpected failure into a 500 Status", async () => {
    const h = withErrors(
      async () => {
        throw new Error("boom");
      },
      { logger: silent },
    );
    const { ex, sent } = exchange("/x");
    await h(ex);
    expect(sent.status).toBe(500);
    expect(JSON.parse(sent.body)).toMatchObject({ kind: "Status", code: 500 });
  });
});
