// The Lease client against the election's renew deadline: client-go bounds a whole renew by it (one context for
// the get and the update), so a slow get followed by a fast update still renews. A 5 s cap per request
// (half the deadline each) lost the lease in that case (found by review).
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { ApiServerLeaseStore } from "../../src/kube/lease.js";
import { LeaderElection } from "../../src/leader/election.js";
import { type FakeHttpApi, json, startFakeHttpApi } from "../fakes/http.js";

const silent = pino({ level: "silent" });

describe("a renew whose get is slow but whose whole attempt fits the renew deadline", () => {
  let api: FakeHttpApi | undefined;
  let election: LeaderElection | undefined;
  afterEach(async () => {
    await election?.stop();
    await api?.close();
  });

  it("keeps leading when get takes 6 s and update is instant (attempt 6 s < renew deadline 10 s)", async () => {
    let lease: Record<string, unknown> | null = null;
    let version = 0;
    api = await startFakeHttpApi((req, res) => {
      if (req.method === "GET") {
        if (!lease) return json(res, 404, { kind: "Status", code: 404, reason: "NotFound" });
        const answer = lease;
        // An API server busy with the agent's own burst (APF queue): reads wait, the write is quick.
        setTimeout(() => {
          if (!res.destroyed) json(res, 200, answer);
        }, 6_000);
        return;
      }
      const body = JSON.parse(req.body) as Record<string, unknown> & { metadata: Record<string, unknown> };
      lease = { ...body, metadata: { ...body.metadata, resourceVersion: String(++version) } };
      json(res, req.method === "POST" ? 201 : 200, lease);
    });
    election = new LeaderElection({
      store: new ApiServerLeaseStore(api.kubeConfig, "slumber"), // default per-request timeout, as leaderElection() wires it
      identity: "me",
      logger: silent,
    });
    const events: string[] = [];
    election.start({
      onStartedLeading: () => events.push("started"),
      onStoppedLeading: (why) => events.push(`stopped:${why}`),
    });
    await new Promise((r) => setTimeout(r, 17_000));
    expect(events).toEqual(["started"]);
  }, 40_000);
});
