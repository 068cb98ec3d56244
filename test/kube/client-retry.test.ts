// Issue 9, injected API errors at the client: ApiServerKubeClient against a real HTTP server that answers
// 429 (with and without Retry-After), 409, 500, 503 and dropped connections. The retries' waits go to a
// recording `sleep`, so nothing here waits real time.
import type { ServerResponse } from "node:http";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { ApiServerKubeClient, safetyOf } from "../../src/kube/client.js";
import { ApiServerListWatch } from "../../src/kube/listwatch.js";
import {
  backoffMs,
  DEFAULT_RETRY,
  parseRetryAfter,
  RETRY_AFTER_MAX_MS,
  type RetryPolicy,
  writeGate,
} from "../../src/kube/retry.js";
import { KubeError } from "../../src/kube/types.js";
import { type FakeHttpApi, json, type SeenRequest, startFakeHttpApi, status } from "../fakes/http.js";

const NOW = Date.parse("2026-03-02T10:00:00Z");

const namespace = (name: string) => ({
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name, uid: "u-1", resourceVersion: "7", annotations: {} },
});
const deployment = (ns: string, name: string, replicas: number) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { namespace: ns, name, uid: "u-2", resourceVersion: "8", generation: 2 },
  spec: { replicas },
});

type Answer = (res: ServerResponse, req: SeenRequest) => void;
const tooMany =
  (retryAfter?: string): Answer =>
  (res) =>
    status(
      res,
      429,
      "TooManyRequests",
      "too many requests, please try again later",
      retryAfter === undefined ? {} : { "Retry-After": retryAfter },
    );
const fails =
  (code: number, reason = "InternalError"): Answer =>
  (res) =>
    status(res, code, reason, `injected ${code}`);
const reset: Answer = (res) => res.socket?.destroy();

let api: FakeHttpApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

/**
 * A client over a server that gives `answers` in turn to the requests on `path` (the last one repeats) and
 * `ok` to every other; its sleeps and log lines are recorded.
 */
async function setup(path: string, answers: Answer[], ok: Answer, retry: Partial<RetryPolicy> = {}) {
  let served = 0;
  api = await startFakeHttpApi((req, res) => {
    if (req.path !== path) return ok(res, req);
    const answer = answers[Math.min(served++, answers.length - 1)] ?? ok;
    answer(res, req);
  });
  const sleeps: number[] = [];
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => logs.push(JSON.parse(line)) });
  const policy: Partial<RetryPolicy> = {
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    now: () => NOW,
    ...retry,
  };
  const client = new ApiServerKubeClient({ kubeConfig: api.kubeConfig, logger, retry: policy });
  const hits = () => (api?.requests ?? []).filter((r) => r.path === path);
  return { client, sleeps, logs, hits, policy };
}

const NS_PATH = "/api/v1/namespaces/team";
const WEB_PATH = "/apis/apps/v1/namespaces/team/deployments/web";
const okNamespace: Answer = (res) => json(res, 200, namespace("team"));
const okDeployment: Answer = (res, req) =>
  json(res, 200, deployment("team", "web", (JSON.parse(req.body || "{}").spec?.replicas as number) ?? 3));
const web = { kind: "Deployment", namespace: "team", name: "web" } as const;

async function failure(promise: Promise<unknown>): Promise<KubeError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KubeError);
  return err as KubeError;
}

describe("Retry-After", () => {
  it("parses delay-seconds and HTTP-dates, clamps to 60 s, and ignores what is malformed", () => {
    expect(parseRetryAfter("2", NOW)).toBe(2_000);
    expect(parseRetryAfter(" 0 ", NOW)).toBe(0);
    expect(parseRetryAfter("3600", NOW)).toBe(RETRY_AFTER_MAX_MS);
    expect(parseRetryAfter(new Date(NOW + 5_000).toUTCString(), NOW)).toBe(5_000);
    expect(parseRetryAfter("Monday, 02-Mar-26 10:00:07 GMT", NOW)).toBe(7_000);
    expect(parseRetryAfter("Mon Mar  2 10:00:04 2026", NOW)).toBe(4_000);
    expect(parseRetryAfter(new Date(NOW - 5_000).toUTCString(), NOW)).toBe(0);
    expect(parseRetryAfter(new Date(NOW + 3_600_000).toUTCString(), NOW)).toBe(RETRY_AFTER_MAX_MS);
    for (const bad of [undefined, "", "soon", "-1", "1.5", "2 s", "Mon, 99 Foo 2026 99:99:99 GMT"])
      expect(parseRetryAfter(bad, NOW), String(bad)).toBeUndefined();
  });

  it("classifies GET and LIST as reads, everything else as writes", () => {
    for (const op of ["get", "list", "list etcd StatefulSet of", "list api/controller Deployments of"])
      expect(safetyOf(op), op).toBe("read");
    for (const op of ["patch", "delete", "create", "create Event about"])
      expect(safetyOf(op), op).toBe("write");
  });

  it("backs off exponentially with jitter, capped", () => {
    const policy = { ...DEFAULT_RETRY, random: () => 0 };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, policy))).toEqual([250, 500, 1000, 2000, 4000, 4000]);
    const high = { ...DEFAULT_RETRY, random: () => 0.999999 };
    expect(backoffMs(1, high)).toBe(500);
    expect(backoffMs(9, high)).toBe(8_000);
  });
});

describe("ApiServerKubeClient retries", () => {
  it("a 429 with Retry-After: 2 waits 2 s, then succeeds; one log line names the object and the wait", async () => {
    const { client, sleeps, logs, hits } = await setup(NS_PATH, [tooMany("2"), okNamespace], okNamespace);
    expect((await client.getNamespace("team"))?.meta.name).toBe("team");
    expect(sleeps).toEqual([2_000]);
    expect(hits()).toHaveLength(2);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({
      level: 40,
      msg: "API request failed; retrying",
      operation: "get",
      object: "Namespace team",
      code: 429,
      attempt: 1,
      retryInMs: 2_000,
      retryAfterMs: 2_000,
    });
  });

  it("honours an HTTP-date Retry-After", async () => {
    const at = new Date(NOW + 5_000).toUTCString();
    const { client, sleeps } = await setup(NS_PATH, [tooMany(at), okNamespace], okNamespace);
    await client.getNamespace("team");
    expect(sleeps).toEqual([5_000]);
  });

  it("a malformed Retry-After falls back to exponential backoff", async () => {
    const { client, sleeps } = await setup(
      NS_PATH,
      [tooMany("soon"), tooMany("soon"), okNamespace],
      okNamespace,
    );
    await client.getNamespace("team");
    // random() = 0.5: three quarters of 500 ms, then of 1 s.
    expect(sleeps).toEqual([375, 750]);
  });

  it("gives up after maxAttempts: the error is still a KubeError 429 naming the object, with its Retry-After", async () => {
    const { client, sleeps, hits, logs } = await setup(NS_PATH, [tooMany("1")], okNamespace);
    const err = await failure(client.getNamespace("team"));
    expect(err).toMatchObject({ code: 429, operation: "get", object: "Namespace team", retryAfterMs: 1_000 });
    expect(err.message).toContain("Namespace team: HTTP 429");
    expect(hits()).toHaveLength(DEFAULT_RETRY.maxAttempts);
    expect(sleeps).toEqual([1_000, 1_000, 1_000]);
    expect(logs).toHaveLength(3);
  });

  it("never waits past the total budget: a Retry-After beyond it ends the retries at once", async () => {
    const { client, sleeps, hits } = await setup(NS_PATH, [tooMany("120")], okNamespace);
    const err = await failure(client.getNamespace("team"));
    expect(err.retryAfterMs).toBe(RETRY_AFTER_MAX_MS);
    expect(hits()).toHaveLength(1);
    expect(sleeps).toEqual([]);

    const budget = await setup(NS_PATH, [tooMany("20")], okNamespace);
    await failure(budget.client.getNamespace("team"));
    expect(budget.sleeps).toEqual([20_000]); // a second 20 s would pass DEFAULT_RETRY's 30 s
  });

  it("a 409 is never retried", async () => {
    const { client, sleeps, hits } = await setup(WEB_PATH, [fails(409, "Conflict")], okDeployment);
    const err = await failure(client.patch(web, { replicas: 0, resourceVersion: "3" }));
    expect(err.code).toBe(409);
    expect(hits()).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it("other 4xx are not retried either", async () => {
    for (const code of [400, 403, 404, 422]) {
      const { client, hits } = await setup(WEB_PATH, [fails(code, "Injected")], okDeployment);
      expect((await failure(client.patch(web, { replicas: 0 }))).code).toBe(code);
      expect(hits(), String(code)).toHaveLength(1);
      await api?.close();
    }
  });

  it("a 500 on a GET is retried after a backoff", async () => {
    const { client, sleeps, hits } = await setup(NS_PATH, [fails(500), fails(503), okNamespace], okNamespace);
    expect((await client.getNamespace("team"))?.meta.resourceVersion).toBe("7");
    expect(hits()).toHaveLength(3);
    expect(sleeps).toEqual([375, 750]);
  });

  it("a 503 with Retry-After on a LIST waits as asked", async () => {
    const path = "/apis/apps/v1/namespaces/team/deployments";
    const answers: Answer[] = [
      (res) => status(res, 503, "ServiceUnavailable", "starting", { "Retry-After": "3" }),
      (res) =>
        json(res, 200, { kind: "DeploymentList", metadata: {}, items: [deployment("team", "web", 2)] }),
    ];
    const { client, sleeps } = await setup(path, answers, (res) =>
      json(res, 200, { metadata: {}, items: [] }),
    );
    expect((await client.listWorkloads("team")).map((w) => w.meta.name)).toEqual(["web"]);
    expect(sleeps).toEqual([3_000]);
  });

  it("a connection reset on a GET is retried; on a patch it is not (it may have been applied)", async () => {
    const read = await setup(NS_PATH, [reset, okNamespace], okNamespace);
    expect((await read.client.getNamespace("team"))?.meta.name).toBe("team");
    expect(read.hits()).toHaveLength(2);
    await api?.close();

    const write = await setup(WEB_PATH, [reset, okDeployment], okDeployment);
    const err = await failure(write.client.patch(web, { replicas: 0 }));
    expect(err.code).toBeUndefined();
    expect(write.hits()).toHaveLength(1);
  });

  it("a 500 on a patch is not retried: the reconciler's next pass reads again and decides", async () => {
    const { client, hits, sleeps } = await setup(WEB_PATH, [fails(500), okDeployment], okDeployment);
    expect((await failure(client.patch(web, { replicas: 0 }))).code).toBe(500);
    expect(hits()).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it("a 429 on a patch is retried with the same merge patch (the server did not process it)", async () => {
    const { client, hits, sleeps } = await setup(WEB_PATH, [tooMany("1"), okDeployment], okDeployment);
    const meta = await client.patch(web, { replicas: 0, annotations: { "slumber.dev/replicas": "3" } });
    expect(meta.resourceVersion).toBe("8");
    expect(sleeps).toEqual([1_000]);
    const [first, second] = hits();
    expect(first?.method).toBe("PATCH");
    expect(second?.body).toBe(first?.body);
    expect(JSON.parse(first?.body ?? "")).toEqual({
      metadata: { annotations: { "slumber.dev/replicas": "3" } },
      spec: { replicas: 0 },
    });
  });

  it("a 429 on an Event is retried too: an Event create answered 429 was never created", async () => {
    const path = "/api/v1/namespaces/team/events";
    const { client, hits } = await setup(path, [tooMany("1"), (res) => json(res, 201, {})], okNamespace);
    await client.recordEvent({
      regarding: { kind: "Namespace", namespace: "team", name: "team" },
      type: "Normal",
      reason: "Sleeping",
      action: "Sleep",
      note: "x",
    });
    expect(hits()).toHaveLength(2);
  });

  it("a write whose leader fence closes while it waits out a 429 is not sent again", async () => {
    let leader = true;
    const open = await setup(WEB_PATH, [tooMany("1"), okDeployment], okDeployment);
    await writeGate.run(
      () => leader,
      () => open.client.patch(web, { replicas: 0 }),
    );
    expect(open.hits()).toHaveLength(2);
    await api?.close();

    // The lease is lost during the wait: the write is not sent again, the 429 is the answer.
    const lost = await setup(WEB_PATH, [tooMany("1"), okDeployment], okDeployment, {
      sleep: async () => {
        leader = false;
      },
    });
    const err = await failure(
      writeGate.run(
        () => leader,
        () => lost.client.patch(web, { replicas: 0 }),
      ),
    );
    expect(err.code).toBe(429);
    expect(lost.hits()).toHaveLength(1);
  });

  it("LISTs of the cache's source are retried the same way", async () => {
    const path = "/api/v1/namespaces";
    let served = 0;
    api = await startFakeHttpApi((req, res) => {
      if (served++ === 0) return tooMany("2")(res, req);
      json(res, 200, { metadata: { resourceVersion: "42" }, items: [namespace("team")] });
    });
    const sleeps: number[] = [];
    const source = new ApiServerListWatch(api.kubeConfig, {
      retry: { sleep: async (ms) => void sleeps.push(ms) },
    });
    const page = await source.list("Namespace", { limit: 10 });
    expect(page.resourceVersion).toBe("42");
    expect(page.items.map((i) => i.metadata?.name)).toEqual(["team"]);
    expect(sleeps).toEqual([2_000]);
    expect(api.requests.map((r) => r.path)).toEqual([path, path]);
  });
});
