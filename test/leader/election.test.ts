import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LeaderElection } from "../../src/leader/election.js";
import { createLogger } from "../../src/log.js";
import { FakeLeaseServer, type FakeLeaseStore } from "../fakes/lease.js";

const silent = createLogger("silent", new Writable({ write: (_c, _e, done) => done() }));

interface Candidate {
  election: LeaderElection;
  store: FakeLeaseStore;
  events: string[];
}

function candidate(server: FakeLeaseServer, identity: string): Candidate {
  const store = server.store();
  const events: string[] = [];
  const election = new LeaderElection({ store, identity, logger: silent });
  election.start({
    onStartedLeading: () => events.push(`started@${Date.now()}`),
    onStoppedLeading: (why) => events.push(`${why}@${Date.now()}`),
  });
  return { election, store, events };
}

/** Advances fake time in small steps, asserting after each that at most one candidate may write. */
async function runFor(ms: number, candidates: Candidate[], stepMs = 100): Promise<void> {
  for (let t = 0; t < ms; t += stepMs) {
    await vi.advanceTimersByTimeAsync(stepMs);
    const leaders = candidates.filter((c) => c.election.isLeader());
    expect(leaders.length, `leaders at ${Date.now()}`).toBeLessThanOrEqual(1);
  }
}

describe("LeaderElection (client-go timings: lease 15 s, renew deadline 10 s, retry 2 s)", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("creates an absent Lease and leads at once", async () => {
    const server = new FakeLeaseServer();
    const a = candidate(server, "a");
    await vi.advanceTimersByTimeAsync(0);
    expect(a.election.isLeader()).toBe(true);
    expect(a.events).toEqual(["started@1000000"]);
    expect(server.lease?.record).toMatchObject({ holderIdentity: "a", leaseDurationSeconds: 15 });
  });

  it("renews every retry period while leading, and a second candidate only follows", async () => {
    const server = new FakeLeaseServer();
    const a = candidate(server, "a");
    await vi.advanceTimersByTimeAsync(0);
    const b = candidate(server, "b");
    await runFor(60_000, [a, b]);
    expect(a.election.isLeader()).toBe(true);
    expect(b.election.isLeader()).toBe(false);
    expect(b.events).toEqual([]);
    expect(b.election.currentHolder()).toBe("a");
    expect(server.lease?.record.renewTime).toBeGreaterThanOrEqual(Date.now() - 2_000);
    expect(server.lease?.record.leaseTransitions).toBe(0);
  });

  it("a leader cut off from the API server stops writing at the renew deadline, before anyone else may start", async () => {
    const server = new FakeLeaseServer();
    const a = candidate(server, "a");
    await vi.advanceTimersByTimeAsync(0);
    const b = candidate(server, "b");
    await runFor(10_000, [a, b]);
    const lastRenew = server.lease!.record.renewTime;
    a.store.partition(true);
    await runFor(30_000, [a, b]);
    const lostAt = Number(a.events.find((e) => e.startsWith("lost@"))!.split("@")[1]);
    const bStartedAt = Number(b.events.find((e) => e.startsWith("started@"))!.split("@")[1]);
    // a stops within the renew deadline of its last successful renew (plus one retry to notice)...
    expect(lostAt - lastRenew).toBeLessThanOrEqual(10_000 + 2_000);
    // ...and b starts no sooner than a lease duration after it last saw the renew.
    expect(bStartedAt - lastRenew).toBeGreaterThanOrEqual(15_000);
    expect(lostAt).toBeLessThan(bStartedAt);
    expect(server.lease?.record).toMatchObject({ holderIdentity: "b", leaseTransitions: 1 });
    // a comes back: it follows b, and never leads again while b renews.
    a.store.partition(false);
    await runFor(20_000, [a, b]);
    expect(a.election.isLeader()).toBe(false);
    expect(b.election.isLeader()).toBe(true);
  });

  it("isLeader() turns false at the renew deadline even when the renew loop is stalled", async () => {
    const server = new FakeLeaseServer();
    const a = candidate(server, "a");
    await vi.advanceTimersByTimeAsync(0);
    expect(a.election.isLeader()).toBe(true);
    // The clock moves but no timer runs: a blocked event loop, a paused process.
    vi.setSystemTime(Date.now() + 9_999);
    expect(a.election.isLeader()).toBe(true);
    vi.setSystemTime(Date.now() + 1);
    expect(a.election.isLeader()).toBe(false);
  });

  it("a follower takes over a dead leader's Lease one lease duration after it last changed", async () => {
    const server = new FakeLeaseServer();
    const a = candidate(server, "a");
    await vi.advanceTimersByTimeAsync(0);
    const b = candidate(server, "b");
    await runFor(5_000, [a, b]);
    // SIGKILL: a's loop ends without releasing anything.
    a.store.partition(true);
    vi.spyOn(a.election, "isLeader").mockReturnValue(false);
    const diedAt = Date.now();
    await runFor(20_000, [b]);
    const bStartedAt = Number(b.events[0]!.split("@")[1]);
    expect(bStartedAt - diedAt).toBeGreaterThanOrEqual(15_000 - 2_000);
    expect(bStartedAt - diedAt).toBeLessThanOrEqual(15_000 + 2_000);
  });

  it("stop() releases the Lease, so a follower takes over at its next retry, not after a lease duration", async () => {
    const server = new FakeLeaseServer();
    const a = candidate(server, "a");
    await vi.advanceTimersByTimeAsync(0);
    const b = candidate(server, "b");
    await runFor(3_000, [a, b]);
    const stoppedAt = Date.now();
    await a.election.stop();
    expect(a.events.at(-1)).toBe(`released@${stoppedAt}`);
    expect(a.election.isLeader()).toBe(false);
    expect(server.lease?.record.holderIdentity).toBe("");
    await runFor(2_100, [a, b]);
    expect(b.election.isLeader()).toBe(true);
    const bStartedAt = Number(b.events[0]!.split("@")[1]);
    expect(bStartedAt - stoppedAt).toBeLessThanOrEqual(2_100);
    const calls = a.store.calls;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(a.store.calls).toBe(calls);
  });

  it("a conflict on renew (someone else wrote) is retried, and leadership survives within the deadline", async () => {
    const server = new FakeLeaseServer();
    const a = candidate(server, "a");
    await vi.advanceTimersByTimeAsync(0);
    // Another writer bumps the resourceVersion without changing the holder (e.g. a label edit).
    server.update(server.lease!.record, server.lease!.resourceVersion);
    await runFor(6_000, [a]);
    expect(a.election.isLeader()).toBe(true);
    expect(a.events).toEqual(["started@1000000"]);
  });

  it("refuses timings where a replica could still write after another one may start", () => {
    const store = new FakeLeaseServer().store();
    expect(
      () =>
        new LeaderElection({
          store,
          identity: "x",
          logger: silent,
          leaseDurationMs: 10_000,
          renewDeadlineMs: 10_000,
        }),
    ).toThrow(/renew deadline \(10000 ms\) must be shorter than the lease duration/);
    expect(
      () =>
        new LeaderElection({
          store,
          identity: "x",
          logger: silent,
          renewDeadlineMs: 2_000,
          retryPeriodMs: 2_000,
        }),
    ).toThrow(/retry period/);
  });
});
