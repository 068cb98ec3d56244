import { getEventListeners } from "node:events";
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

function setup(
  options: {
    maxHeld?: number;
    wakeTimeoutMs?: number;
    probe?: () => Promise<boolean>;
    wakeRetryMs?: number;
  } = {},
) {
  const clock = new FakeClock(T0);
  const timers = new ManualTimers(clock);
  const routes = new RouteTable();
  routes.publish(asleep);
  const wakes: { at: number; source: string }[] = [];
  const probes: number[] = [];
  /** Every onHeldChange report, in order (what the held-requests gauge is set to). */
  const heldReports: number[] = [];
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
    ...(options.wakeRetryMs !== undefined ? { wakeRetryMs: options.wakeRetryMs } : {}),
    onHeldChange: (_ns, _name, held) => heldReports.push(held),
  });
  const results: HoldResult[] = [];
  const admit = (route: ClusterRoute, request: Partial<Parameters<WakeHold["admit"]>[1]> = {}) => {
    const result = hold.admit(route, { upgrade: false, ignored: false, source: "request", ...request });
    if (result instanceof Promise) void result.then((r) => results.push(r));
    else results.push(result);
    return result;
  };
  const flush = () => new Promise((r) => setImmediate(r));
  return { clock, timers, routes, hold, wakes, probes, heldReports, results, admit, flush };
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
    // Asked at 0 s and again every 5 s while held, always for the same request.
    expect(s.wakes.every((w) => w.at === T0)).toBe(true);
    s.admit(asleep);
    expect(s.wakes.at(-1)).toEqual({ at: T0 + 120_000, source: "request" });
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

  it("asks for the wake again every 5 s (with the first request's time) while requests wait and the control plane is not Ready", async () => {
    const s = setup({ wakeTimeoutMs: 120_000 });
    s.admit(asleep);
    s.timers.advance(1_000);
    s.admit(asleep);
    expect(s.wakes).toEqual([{ at: T0, source: "request" }]);
    // The first write failed (say the API server was down): nothing changed, so it is asked again.
    s.timers.advance(4_000);
    expect(s.wakes).toEqual([
      { at: T0, source: "request" },
      { at: T0, source: "request" },
    ]);
    s.timers.advance(5_000);
    expect(s.wakes).toHaveLength(3);
    // Unpaused but not Ready yet: still asked (harmless: the same activity, a pass that finds nothing to do).
    s.routes.publish({ ...asleep, asleep: false });
    s.timers.advance(5_000);
    expect(s.wakes).toHaveLength(4);
    // Ready: no more asks, and the held requests are released.
    s.routes.publish(awake);
    await s.flush();
    s.timers.advance(60_000);
    await s.flush();
    expect(s.wakes).toHaveLength(4);
    expect(s.results).toEqual([
      { kind: "ready", held: true },
      { kind: "ready", held: true },
    ]);
    expect(s.timers.dueTimes()).toEqual([]);
  });

  it("stops asking for the wake once nobody waits", async () => {
    const s = setup({ wakeTimeoutMs: 7_000 });
    s.admit(asleep);
    s.timers.advance(7_000);
    await s.flush();
    expect(s.results).toEqual([expect.objectContaining({ kind: "rejected", outcome: "timeout" })]);
    expect(s.wakes).toHaveLength(2); // at 0 s and 5 s
    expect(s.timers.dueTimes()).toEqual([]);
    s.timers.advance(60_000);
    expect(s.wakes).toHaveLength(2);
  });

  describe("a woken cluster that never becomes ready (500 held requests)", () => {
    const HELD = 500;
    const TIMEOUT_MS = 12_000;

    async function holdMany(s: ReturnType<typeof setup>, route: ClusterRoute) {
      const clients = Array.from({ length: HELD }, () => new AbortController());
      for (const client of clients) s.admit(route, { signal: () => client.signal });
      expect(s.hold.heldCount("vc-a", "a")).toBe(HELD);
      expect(s.hold.sizes()).toEqual({ clusters: 1, held: HELD });
      expect(Math.max(...s.heldReports)).toBe(HELD);
      // Every client's abort signal has the hold's one listener while it waits.
      expect(clients.every((c) => getEventListeners(c.signal, "abort").length === 1)).toBe(true);
      return clients;
    }

    async function expectDrainedAtTimeout(s: ReturnType<typeof setup>, clients: AbortController[]) {
      s.timers.advance(TIMEOUT_MS - 1 - (s.clock.now() - T0));
      await s.flush();
      expect(s.results).toEqual([]);
      expect(s.hold.heldCount("vc-a", "a")).toBe(HELD);
      s.timers.advance(1);
      await s.flush();
      expect(s.results).toHaveLength(HELD);
      for (const result of s.results)
        expect(result).toEqual({
          kind: "rejected",
          outcome: "timeout",
          status: {
            code: 504,
            reason: "Timeout",
            message: "virtual cluster vc-a/a did not become ready within 12s (--wake-timeout)",
          },
        });
      // Nothing is left behind: no waiter, no abort listener, and (after the probe loop notices) no timer.
      expect(s.hold.heldCount("vc-a", "a")).toBe(0);
      expect(s.hold.sizes()).toEqual({ clusters: 1, held: 0 });
      expect(s.heldReports.at(-1)).toBe(0);
      expect(clients.every((c) => getEventListeners(c.signal, "abort").length === 0)).toBe(true);
      s.timers.advance(1_000);
      await s.flush();
      expect(s.timers.dueTimes()).toEqual([]);
      // A client that goes away afterwards changes nothing.
      for (const client of clients) client.abort();
      await s.flush();
      expect(s.results).toHaveLength(HELD);
    }

    it("control plane never Ready: one wake (asked again every 5 s), every request 504 at the timeout, nothing left", async () => {
      const s = setup({ wakeTimeoutMs: TIMEOUT_MS });
      const clients = await holdMany(s, asleep);
      await expectDrainedAtTimeout(s, clients);
      // One wake decision, asked at 0 s and again at 5 s and 10 s, always with the first request's time.
      expect(s.wakes).toEqual(Array(3).fill({ at: T0, source: "request" }));
      expect(s.probes).toEqual([]);
      // The next request starts over: a new wake.
      s.admit(asleep);
      expect(s.wakes).toHaveLength(4);
    });

    it("Ready by watch but /readyz never answers: probed until the timeout, every request 504, nothing left", async () => {
      const s = setup({ wakeTimeoutMs: TIMEOUT_MS, probe: async () => false });
      const clients = await holdMany(s, asleep);
      s.timers.advance(3_000);
      s.routes.publish(awake);
      for (let t = 0; t < 20; t++) {
        s.timers.advance(100);
        await s.flush();
      }
      expect(s.probes.length).toBeGreaterThan(10);
      await expectDrainedAtTimeout(s, clients);
      const probesAtTimeout = s.probes.length;
      s.timers.advance(10_000);
      await s.flush();
      expect(s.probes).toHaveLength(probesAtTimeout);
    });
  });
});
