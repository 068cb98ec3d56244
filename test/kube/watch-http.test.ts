// Issue 9, "a watch dropped mid-stream": the agent's read path as it runs (CachedKubeClient, its informers,
// ApiServerListWatch, client-node's Watch) against real HTTP watch streams that break: a connection
// destroyed mid-stream, an event cut in half before the connection goes, an ERROR 410 "too old resource
// version", and watch requests answered 500. Each time the informers must re-watch (or relist, after 410)
// with backoff, end with exactly the server's objects, announce each change once and nothing unchanged,
// and throw nothing.
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CachedKubeClient, cachedKubeClient } from "../../src/kube/cache.js";
import { ApiServerListWatch, type CachedKind } from "../../src/kube/listwatch.js";
import type { KubeClient, WatchEvent } from "../../src/kube/types.js";
import { FakeApiServer, raw } from "../fakes/apiserver.js";
import { type FakeHttpApi, type HttpListWatch, httpListWatch, startFakeHttpApi } from "../fakes/http.js";

const WAIT = { timeout: 10_000, interval: 10 };
/** Every kind but ScaledObject (KEDA absent: 404, not watched). */
const WATCHED_KINDS = 6;
const PATHS: Partial<Record<CachedKind, string>> = {
  Namespace: "/api/v1/namespaces",
  Deployment: "/apis/apps/v1/deployments",
};

let api: FakeHttpApi | undefined;
let cache: CachedKubeClient | undefined;
afterEach(async () => {
  await cache?.stop();
  await api?.close();
  cache = undefined;
  api = undefined;
});

/** The real client under the cache is never needed here: reads are served once synced and healthy. */
const unusedInner = new Proxy({} as KubeClient, {
  get: (_target, property) => async () => {
    throw new Error(`the API client was called (${String(property)}): the cache was not serving`);
  },
});

async function setup(seed: (server: FakeApiServer) => void) {
  const server = new FakeApiServer();
  seed(server);
  const wire: HttpListWatch = httpListWatch(server);
  api = await startFakeHttpApi(wire.handler);
  const logs: { level: number; msg: string; informer?: string; retryInMs?: number; code?: number }[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => logs.push(JSON.parse(line)) });
  const source = new ApiServerListWatch(api.kubeConfig, { logger, retry: { sleep: async () => {} } });
  cache = new CachedKubeClient({
    inner: unusedInner,
    source,
    logger,
    informer: { backoffMinMs: 20, backoffMaxMs: 1_000, absentRetryMs: 60_000 },
  });
  const kube = cachedKubeClient(cache, unusedInner);
  const events: WatchEvent[] = [];
  const handles = (["namespaces", "workloads", "controlPlanes"] as const).map((resource) =>
    kube.watch(resource, (event) => events.push(event)),
  );
  await Promise.all(handles.map((h) => h.synced));
  await vi.waitFor(() => expect(wire.open()).toBe(WATCHED_KINDS), WAIT);
  const http = api;
  /** LIST requests on the wire for a cluster-wide kind (the test's own look at the server is not one). */
  const lists = (kind: CachedKind) =>
    http.requests.filter((r) => r.path === PATHS[kind] && r.query.get("watch") !== "true").length;
  const restarts = (kind: CachedKind) =>
    logs.filter((l) => l.msg === "informer stopped; restarting" && l.informer === kind);
  return { server, wire, kube, events, logs, lists, restarts };
}

function seedTeams(server: FakeApiServer): void {
  for (const ns of ["team-a", "team-b", "team-c"]) server.put("Namespace", raw.namespace(ns));
  server.put("Deployment", raw.deployment("team-a", "web", { replicas: 2 }));
  server.put("Deployment", raw.deployment("team-a", "api"));
  server.put(
    "StatefulSet",
    raw.statefulSet("vc-host", "dev", { labels: { app: "vcluster", release: "dev" } }),
  );
  server.put("Namespace", raw.namespace("vc-host"));
}

/** What the server holds, as the cache should: namespace names and annotations, team-a's replica counts. */
async function serverView(server: FakeApiServer) {
  const namespaces = (await server.list("Namespace", { limit: 1_000 })).items;
  const workloads = (await server.list("Deployment", { namespace: "team-a", limit: 1_000 })).items;
  return {
    namespaces: namespaces.map((n) => [n.metadata?.name, n.metadata?.annotations ?? {}]),
    workloads: workloads.map((w) => [
      w.metadata?.name,
      (w as { spec?: { replicas?: number } }).spec?.replicas,
    ]),
  };
}

async function cacheView(kube: KubeClient) {
  return {
    namespaces: (await kube.listNamespaces()).map((n) => [n.meta.name, n.meta.annotations]),
    workloads: (await kube.listWorkloads("team-a")).map((w) => [w.meta.name, w.replicas]),
  };
}

/** The cache ends where the server is (each read retried until the informers serve again). */
async function consistent(server: FakeApiServer, kube: KubeClient): Promise<void> {
  await vi.waitFor(async () => expect(await cacheView(kube)).toEqual(await serverView(server)), WAIT);
}

const summary = (events: WatchEvent[]) => events.map((e) => `${e.resource} ${e.type} ${e.name}`).sort();

describe("watch streams that break over HTTP", () => {
  it("a connection destroyed mid-stream: re-watch from the last version after a backoff, no relist, each change once", async () => {
    const { server, wire, kube, events, lists, restarts, logs } = await setup(seedTeams);
    await kube.listWorkloads("team-a");
    server.put("Deployment", raw.deployment("team-a", "web", { replicas: 5 }));
    await vi.waitFor(() => expect(summary(events)).toEqual(["workloads modified web"]), WAIT);
    const namespaceLists = lists("Namespace");

    wire.dropConnections();
    // Changes while the connections are down reach the informers only through the re-watch.
    server.put("Namespace", raw.namespace("team-a", { "slumber.dev/sleep-after": "1h" }));
    server.put("Namespace", raw.namespace("team-d"));
    server.remove("Namespace", "", "team-c");
    server.put("Deployment", raw.deployment("team-a", "api", { replicas: 3 }));

    await vi.waitFor(() => expect(wire.open()).toBe(WATCHED_KINDS), WAIT);
    await consistent(server, kube);
    await vi.waitFor(
      () =>
        expect(summary(events)).toEqual([
          "namespaces added team-d",
          "namespaces deleted team-c",
          "namespaces modified team-a",
          "workloads modified api",
          "workloads modified web",
        ]),
      WAIT,
    );
    expect(lists("Namespace")).toBe(namespaceLists);
    // Each informer waited its first backoff step before watching again.
    for (const kind of ["Namespace", "Deployment"] as const)
      expect(restarts(kind).map((l) => l.retryInMs)).toEqual([20]);
    expect(logs.filter((l) => l.level >= 50)).toEqual([]);
  });

  it.each(["destroyed", "ended"] as const)(
    "an event cut in half, then the connection %s: the event comes again on the re-watch, applied once",
    async (close) => {
      const { server, wire, kube, events, lists } = await setup(seedTeams);
      const namespaceLists = lists("Namespace");
      wire.truncateNext("Namespace", close === "destroyed" ? "destroy" : "end");
      server.put("Namespace", raw.namespace("team-b", { note: "x".repeat(2_000) }));
      await consistent(server, kube);
      expect((await kube.getNamespace("team-b"))?.meta.annotations.note).toHaveLength(2_000);
      await vi.waitFor(() => expect(wire.open()).toBe(WATCHED_KINDS), WAIT);
      expect(summary(events)).toEqual(["namespaces modified team-b"]);
      expect(lists("Namespace")).toBe(namespaceLists);
    },
  );

  it("an ERROR 410 on the stream relists: what changed meanwhile is announced once, nothing unchanged is", async () => {
    const { server, wire, kube, events, lists } = await setup(seedTeams);
    await kube.listWorkloads("team-a");
    const namespaceLists = lists("Namespace");
    // The connection fell behind: these events are lost, and the history is compacted.
    server.holdEvents = true;
    server.remove("Namespace", "", "team-b");
    server.put("Namespace", raw.namespace("team-d"));
    server.put("Deployment", raw.deployment("team-a", "web", { replicas: 0 }));
    server.remove("StatefulSet", "vc-host", "dev");
    server.holdEvents = false;
    server.discardHeld();
    server.compact();
    server.expireWatches();

    await vi.waitFor(() => expect(lists("Namespace")).toBe(namespaceLists + 1), WAIT);
    await vi.waitFor(() => expect(wire.open()).toBe(WATCHED_KINDS), WAIT);
    await consistent(server, kube);
    expect(await kube.listControlPlanes()).toEqual([]);
    expect(summary(events)).toEqual([
      "controlPlanes deleted dev",
      "namespaces added team-d",
      "namespaces deleted team-b",
      "workloads modified web",
    ]);
  });

  it("watch requests answered 500 are retried with a growing backoff; progress resets it", async () => {
    const { server, wire, kube, restarts } = await setup(seedTeams);
    wire.failWatches("/api/v1/namespaces", 500, 3);
    wire.dropConnections();
    await vi.waitFor(() => expect(restarts("Namespace")).toHaveLength(4), WAIT);
    await vi.waitFor(() => expect(wire.open()).toBe(WATCHED_KINDS), WAIT);
    await consistent(server, kube);
    // Dropped: the first step; then each 500 doubles it.
    expect(restarts("Namespace").map((l) => l.retryInMs)).toEqual([20, 40, 80, 160]);
    expect(restarts("Namespace").map((l) => l.code)).toEqual([undefined, 500, 500, 500]);

    // A watch that delivered events and then broke starts over from the first step.
    for (let round = 0; round < 3; round++) {
      server.put("Namespace", raw.namespace("team-a", { round: String(round) }));
      await vi.waitFor(
        async () => expect((await kube.getNamespace("team-a"))?.meta.annotations.round).toBe(String(round)),
        WAIT,
      );
      const before = restarts("Namespace").length;
      wire.dropConnections();
      await vi.waitFor(() => expect(restarts("Namespace").length).toBe(before + 1), WAIT);
      expect(restarts("Namespace").at(-1)?.retryInMs, `round ${round}`).toBe(20);
      await vi.waitFor(() => expect(wire.open()).toBe(WATCHED_KINDS), WAIT);
    }
    await consistent(server, kube);
  });

  it("a LIST the client gave up on after 429s waits out the server's Retry-After before the next", async () => {
    const { server, wire, kube, restarts } = await setup(seedTeams);
    wire.failLists("/api/v1/namespaces", 429, "1", 4);
    server.compact();
    server.expireWatches();
    await vi.waitFor(() => expect(restarts("Namespace")).toHaveLength(1), WAIT);
    // Four attempts (the client's retries, not waiting here), then the informer: 1 s, not its 20 ms.
    expect(restarts("Namespace")[0]).toMatchObject({ code: 429, retryInMs: 1_000 });
    await consistent(server, kube);
  });
});
