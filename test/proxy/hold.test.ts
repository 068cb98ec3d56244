import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { type HoldResult, RETRY_AFTER_SECONDS, WakeHold } from "../../src/proxy/hold.js";
import type { ClusterRoute } from "../../src/proxy/port.js";
import { RouteTable } from "../../src/reconciler/routes.js";
import { FakeClock, ManualTimers, T0 } from "../fakes/harness.js";

const asleep: ClusterRoute = {
  namespace: "vc-a",
  name: "a",
  upstream: "https://a.vc-a.svc:443",
  asleep: true,
  ready: false,
  ignoreUserAgents: [],
};
const awake: ClusterRoute = { ...asleep, asleep: false, ready: true };

function setup(options: { maxHeld?: number; wakeTimeoutMs?: number; probe?: () => Promise<boolean> } = {}) {
  const clock = new FakeClock(T0);
  const timers = new ManualTimers(clock);
  const routes = new RouteTable();
  routes.publish(asleep);
  const wakes: { at: number; source: string }[] = [];
  const probes: number[] = [];
  const hold = new WakeHold({
    routes,
    port: {
      requestWake: (_ref, at, source) => wakes.push({ at, source }),
      recordActivity: () => undefined,
    },
    probe: async () => {
      probes.push(clock.now());
      return options.probe ? options.probe() : true;
    },
    clock,
    timers,
    logger: pino({ level: "silent" }),
    maxHeld: options.maxHeld ?? 1000,
    wakeTimeoutMs: options.wakeTimeoutMs ?? 120_000,
  });
  const results: HoldResult[] = [];
  const admit = (route: ClusterRoute, request: Partial<Parameters<WakeHold["admit"]>[1]> = {}) => {
    const result = hold.admit(route, { upgrade: false, ignored: false, source: "request", ...request });
    if (result instanceof Promise) void result.then((r) => results.push(r));
    else results.push(result);
    return result;
  };
  const flush = () => new Promise((r) => setImmediate(r));
  return { clock, timers, routes, hold, wakes, probes, results, admit, flush };
}

describe("WakeHold", () => {
  it("forwards at once when the cluster is ready and /readyz answered before", async () => {
    const s = setup();
    s.routes.publish(awake);
    await s.admit(awake); // first request probes /readyz
    expect(s.admit(awake)).toEqual({ kind: "ready", held: false });
    expect(s.wakes).toEqual([]);
  });

  it("asks for one wake however many requests arrive, then releases all within 100 ms of readiness", async () => {
    const s = setup();
    for (let i = 0; i < 300; i++) s.admit(asleep);
    expect(s.wakes).toEqual([{ at: T0, source: "request" }]);
    expect(s.hold.heldCount("vc-a", "a")).toBe(300);
    s.timers.advance(30_000);
    s.routes.publish(awake);
    await s.flush();
    expect(s.probes).toHaveLength(1);
    // Released in batches, not all in one tick: some are still held right after the first batch.
    expect(s.results.length).toBeGreaterThan(0);
    expect(s.results.length).toBeLessThan(300);
    s.timers.advance(100);
    await s.flush();
    expect(s.results).toHaveLength(300);
    expect(s.results.every((r) => r.kind === "ready" && r.held)).toBe(true);
  });

  it("keeps probing /readyz until the API server answers through the upstream", async () => {
    let ok = false;
    const s = setup({ probe: async () => ok });
    s.admit(asleep);
    s.routes.publish(awake);
    await s.flush();
    s.timers.advance(100);
    await s.flush();
    expect(s.results).toEqual([]);
    ok = true;
    s.timers.advance(100);
    await s.flush();
    expect(s.results).toEqual([{ kind: "ready", held: true }]);
    expect(s.probes.length).toBeGreaterThanOrEqual(3);
  });

  it("answers 503 with an integer Retry-After past --max-held, but holds upgrades past it", async () => {
    const s = setup({ maxHeld: 2 });
    s.admit(asleep);
    s.admit(asleep);
    const third = s.admit(asleep);
    expect(third).toMatchObject({
      kind: "rejected",
      outcome: "rejected",
      status: { code: 503, retryAfterSeconds: RETRY_AFTER_SECONDS },
    });
    const upgrade = s.admit(asleep, { upgrade: true, source: "session" });
    expect(upgrade).toBeInstanceOf(Promise);
    expect(s.hold.heldCount("vc-a", "a")).toBe(3);
  });

  it("answers 504 past --wake-timeout, and the next request asks for a wake again", async () => {
    const s = setup({ wakeTimeoutMs: 120_000 });
    s.admit(asleep);
    s.timers.advance(119_999);
    await s.flush();
    expect(s.results).toEqual([]);
    s.timers.advance(1);
    await s.flush();
    expect(s.results).toEqual([
      expect.objectContaining({
        kind: "rejected",
        outcome: "timeout",
        status: expect.objectContaining({ code: 504, reason: "Timeout" }),
      }),
    ]);
    expect((s.results[0] as { status: { message: string } }).status.message).toContain("within 120s");
    s.admit(asleep);
    expect(s.wakes).toHaveLength(2);
  });

  it("never wakes for an ignored request: 503 while asleep", () => {
    const s = setup();
    expect(s.admit(asleep, { ignored: true })).toMatchObject({ kind: "rejected", status: { code: 503 } });
    expect(s.wakes).toEqual([]);
  });

  it("forgets a held request whose client went away", async () => {
    const s = setup();
    const abort = new AbortController();
    s.admit(asleep, { signal: () => abort.signal });
    abort.abort();
    await s.flush();
    expect(s.results).toEqual([{ kind: "aborted" }]);
    expect(s.hold.heldCount("vc-a", "a")).toBe(0);
  });

  it("answers 404 to held requests when the cluster stops being managed", async () => {
    const s = setup();
    s.admit(asleep);
    s.routes.remove("vc-a", "a");
    await s.flush();
    expect(s.results).toEqual([
      expect.objectContaining({ kind: "rejected", status: expect.objectContaining({ code: 404 }) }),
    ]);
  });

  it("answers 502 naming the annotation when the upstream is invalid", () => {
    const s = setup();
    const broken = {
      ...awake,
      upstream: null,
      upstreamError: 'slumber.dev/upstream="ftp://x" is not an https:// URL',
    };
    expect(s.admit(broken)).toMatchObject({
      kind: "rejected",
      status: { code: 502, message: broken.upstreamError },
    });
  });
});
