// The bound on requests waiting for the agent's first pass (withRouting, --max-held): upgrades and aborted clients.
import type { Duplex } from "node:stream";
import { describe, expect, it } from "vitest";
import type { ClientResponse, Exchange, Handler } from "../../src/proxy/exchange.js";
import { withRouting } from "../../src/proxy/middleware.js";
import type { ClusterRoute } from "../../src/proxy/port.js";
import { RouteTable } from "../../src/reconciler/routes.js";
import { T0 } from "../fakes/harness.js";

const awake: ClusterRoute = {
  namespace: "vc-a",
  name: "a",
  upstream: "https://a.vc-a.svc:443",
  asleep: false,
  ready: true,
  ignoreUserAgents: [],
};

function plain(url: string, signal: AbortSignal = new AbortController().signal) {
  const sent: { status?: number } = {};
  const res = {
    headersSent: false,
    destroyed: false,
    writableEnded: false,
    writableFinished: false,
    writeHead(status: number) {
      sent.status = status;
      res.headersSent = true;
    },
    write: () => true,
    end() {
      res.writableEnded = true;
    },
    destroy() {},
    on() {},
    once() {},
    off() {},
  };
  const ex: Exchange = {
    method: "GET",
    url,
    headers: {},
    rawHeaders: [],
    body: null,
    tlsSocket: undefined,
    upgrade: null,
    response: res as unknown as ClientResponse,
    signal,
    startedAt: T0,
  };
  return { ex, sent };
}

/** kubectl exec over WebSocket: an HTTP/1.1 upgrade, answered on the raw socket. */
function upgrade(url: string) {
  const written: string[] = [];
  const socket = {
    destroyed: false,
    writable: true,
    end(chunk?: string) {
      if (chunk) written.push(chunk);
    },
  };
  const ex: Exchange = {
    method: "GET",
    url,
    headers: { upgrade: "websocket", connection: "Upgrade" },
    rawHeaders: ["Upgrade", "websocket", "Connection", "Upgrade"],
    body: null,
    tlsSocket: undefined,
    upgrade: { socket: socket as unknown as Duplex, head: Buffer.alloc(0), protocol: "websocket" },
    response: null,
    signal: new AbortController().signal,
    startedAt: T0,
  };
  return { ex, written };
}

function stub() {
  const seen: Exchange[] = [];
  const next: Handler = async (ex) => {
    seen.push(ex);
  };
  return { next, seen };
}

const tick = () => new Promise((r) => setTimeout(r, 10));

describe("withRouting's bound on requests waiting for the first pass", () => {
  it("never answers an upgrade (exec/attach/port-forward) 503: SPEC 'upgrades are held, never answered 503'", async () => {
    const routes = new RouteTable();
    const { next, seen } = stub();
    const h = withRouting(next, {
      routes,
      baseDomain: undefined,
      startupWaitMs: 5_000,
      startupMaxWaiting: 1,
    });
    const first = h(plain("/vcluster/vc-a/a/api").ex);
    const exec = upgrade("/vcluster/vc-a/a/api/v1/namespaces/default/pods/p/exec?command=sh");
    const execDone = h(exec.ex);
    await tick();
    // client-go does not retry an upgrade answered 503 (hold.ts says so): kubectl exec would just fail.
    expect(exec.written.join("")).not.toMatch(/^HTTP\/1\.1 503/);
    routes.publish(awake);
    routes.setComplete();
    await Promise.all([first, execDone]);
    expect(seen.map((e) => e.upgrade !== null)).toEqual([false, true]);
  });

  it("frees the slot of a request whose client went away, like WakeHold does (not only after --wake-timeout)", async () => {
    const routes = new RouteTable();
    const { next, seen } = stub();
    const h = withRouting(next, {
      routes,
      baseDomain: undefined,
      startupWaitMs: 5_000,
      startupMaxWaiting: 1,
    });
    const gone = new AbortController();
    const first = h(plain("/vcluster/vc-a/a/api", gone.signal).ex);
    gone.abort(); // the client disconnected (its own timeout, Ctrl-C)
    await tick();
    const live = plain("/vcluster/vc-a/a/api");
    const liveDone = h(live.ex);
    await tick();
    // The one slot is held by a dead request for up to --wake-timeout (120 s): the live one gets 503.
    expect(live.sent.status).toBeUndefined();
    routes.publish(awake);
    routes.setComplete();
    await Promise.all([first, liveDone]);
    expect(seen).toContain(live.ex);
  });

  it("counts upgrades apart: they neither take nor are refused a plain request's place, but are bounded too", async () => {
    const routes = new RouteTable();
    const { next, seen } = stub();
    const h = withRouting(next, {
      routes,
      baseDomain: undefined,
      startupWaitMs: 5_000,
      startupMaxWaiting: 1,
    });
    const exec1 = upgrade("/vcluster/vc-a/a/api/v1/namespaces/default/pods/p/exec?command=sh");
    const exec1Done = h(exec1.ex);
    const first = h(plain("/vcluster/vc-a/a/api").ex);
    const second = plain("/vcluster/vc-a/a/api");
    await h(second.ex);
    expect(second.sent.status).toBe(503);
    const exec2 = upgrade("/vcluster/vc-a/a/api/v1/namespaces/default/pods/p/exec?command=sh");
    await h(exec2.ex);
    expect(exec2.written.join("")).toMatch(/^HTTP\/1\.1 503[\s\S]*exec, attach or port-forward sessions/);
    expect(exec1.written).toEqual([]);
    routes.publish(awake);
    routes.setComplete();
    await Promise.all([exec1Done, first]);
    expect(seen).toHaveLength(2);
  });
});
