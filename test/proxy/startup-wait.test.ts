// The bound on requests waiting for the agent's first pass (withRouting, --max-held): upgrades and aborted clients.
import type { Duplex } from "node:stream";
import { describe, expect, it } from "vitest";
import type { Exchange, Handler } from "../../src/proxy/exchange.js";
import { withRouting } from "../../src/proxy/middleware.js";
import { RouteTable } from "../../src/reconciler/routes.js";
import { awakeRoute as awake, exchange } from "../fakes/exchange.js";
import { T0 } from "../fakes/harness.js";

const plain = (url: string, signal: AbortSignal = new AbortController().signal) =>
  exchange(url, {}, { signal });

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

/** withRouting before the first pass, letting `limit` requests wait; `seen` collects what it passed on. */
function starting(limit: number) {
  const routes = new RouteTable();
  const seen: Exchange[] = [];
  const next: Handler = async (ex) => {
    seen.push(ex);
  };
  const h = withRouting(next, {
    routes,
    baseDomain: undefined,
    startupWaitMs: 5_000,
    startupMaxWaiting: limit,
  });
  const complete = () => {
    routes.publish(awake);
    routes.setComplete();
  };
  return { h, seen, complete };
}

const tick = () => new Promise((r) => setTimeout(r, 10));

describe("withRouting's bound on requests waiting for the first pass", () => {
  it("never answers an upgrade (exec/attach/port-forward) 503: SPEC 'upgrades are held, never answered 503'", async () => {
    const { h, seen, complete } = starting(1);
    const first = h(plain("/vcluster/vc-a/a/api").ex);
    const exec = upgrade("/vcluster/vc-a/a/api/v1/namespaces/default/pods/p/exec?command=sh");
    const execDone = h(exec.ex);
    await tick();
    // client-go does not retry an upgrade answered 503 (hold.ts says so): kubectl exec would just fail.
    expect(exec.written.join("")).not.toMatch(/^HTTP\/1\.1 503/);
    complete();
    await Promise.all([first, execDone]);
    expect(seen.map((e) => e.upgrade !== null)).toEqual([false, true]);
  });

  it("frees the slot of a request whose client went away, like WakeHold does (not only after --wake-timeout)", async () => {
    const { h, seen, complete } = starting(1);
    const gone = new AbortController();
    const first = h(plain("/vcluster/vc-a/a/api", gone.signal).ex);
    gone.abort(); // the client disconnected (its own timeout, Ctrl-C)
    await tick();
    const live = plain("/vcluster/vc-a/a/api");
    const liveDone = h(live.ex);
    await tick();
    // The one slot is held by a dead request for up to --wake-timeout (120 s): the live one gets 503.
    expect(live.sent.status).toBeUndefined();
    complete();
    await Promise.all([first, liveDone]);
    expect(seen).toContain(live.ex);
  });

  it("counts upgrades apart: they neither take nor are refused a plain request's place, but are bounded too", async () => {
    const { h, seen, complete } = starting(1);
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
    complete();
    await Promise.all([exec1Done, first]);
    expect(seen).toHaveLength(2);
  });

  it("lets at most startupMaxWaiting requests wait; the next gets 503 with Retry-After; none once the pass is done", async () => {
    const { h, seen, complete } = starting(2);
    const first = h(plain("/vcluster/vc-a/a/api").ex);
    const second = h(plain("/vcluster/vc-a/a/api").ex);
    const third = plain("/vcluster/vc-a/a/api");
    await h(third.ex);
    expect(third.sent.status).toBe(503);
    expect(third.sent.headers?.["retry-after"] ?? third.sent.headers?.["Retry-After"]).toBe("5");
    expect(JSON.parse(third.sent.body)).toMatchObject({
      kind: "Status",
      reason: "ServiceUnavailable",
      message: expect.stringContaining("first pass"),
    });
    expect(seen).toHaveLength(0);
    complete();
    await Promise.all([first, second]);
    expect(seen).toHaveLength(2);
    await Promise.all([1, 2, 3].map(() => h(plain("/vcluster/vc-a/a/api").ex)));
    expect(seen).toHaveLength(5);
  });
});
