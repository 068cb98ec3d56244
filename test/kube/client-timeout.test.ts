// A hung API server: requests through ApiServerKubeClient and ApiServerListWatch's LISTs against a real HTTP
// server that never answers (or never finishes the body) give up after the client's timeout with a KubeError
// naming the object; reads are then retried as src/kube/retry.ts says, writes are not. Watches are long-lived
// and must not get the timeout. Timeouts here are 200 ms; retry waits go to a recording `sleep`.
import type { ServerResponse } from "node:http";
import { CoreV1Api, HttpMethod, RequestContext } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import {
  ApiServerKubeClient,
  call,
  DEFAULT_API_TIMEOUT_MS,
  makeApiClient,
  requestTimeout,
} from "../../src/kube/client.js";
import { ApiServerListWatch, type RawObject, type WatchEventType } from "../../src/kube/listwatch.js";
import { DEFAULT_RETRY, type RetryPolicy } from "../../src/kube/retry.js";
import { KubeError } from "../../src/kube/types.js";
import { type FakeHttpApi, json, type SeenRequest, startFakeHttpApi } from "../fakes/http.js";

const TIMEOUT_MS = 200;
/** Generous: two cores, and other suites (or a benchmark) running beside this one. */
const SLACK_MS = 2_000;

const namespace = (name: string) => ({
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name, uid: "u-1", resourceVersion: "7" },
});

type Answer = (res: ServerResponse, req: SeenRequest) => void;
/** Never answers: the request stays open until the client gives up (or the server closes). */
const hang: Answer = () => {};
/** Sends the status line and headers and half a body, then nothing. */
const stallBody: Answer = (res) => {
  res.writeHead(200, { "content-type": "application/json" });
  res.write('{"kind":"NamespaceList","items":[');
};
const okNamespace: Answer = (res) => json(res, 200, namespace("team"));

let api: FakeHttpApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

/** A server that gives `answers` in turn to requests on `path` (the last repeats), `ok` to every other. */
async function serve(path: string, answers: Answer[], ok: Answer = okNamespace) {
  let served = 0;
  const arrivals: number[] = [];
  api = await startFakeHttpApi((req, res) => {
    if (req.path !== path) return ok(res, req);
    arrivals.push(Date.now());
    const answer = answers[Math.min(served++, answers.length - 1)] ?? ok;
    answer(res, req);
  });
  const sleeps: number[] = [];
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => logs.push(JSON.parse(line)) });
  const retry: Partial<RetryPolicy> = { sleep: async (ms) => void sleeps.push(ms), random: () => 0.5 };
  const http = api;
  const hits = () => http.requests.filter((r) => r.path === path);
  return { kubeConfig: http.kubeConfig, logger, retry, sleeps, logs, hits, arrivals };
}

async function failure(promise: Promise<unknown>): Promise<KubeError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KubeError);
  return err as KubeError;
}

/** Milliseconds `fn` takes to settle. */
async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; result: Promise<T> }> {
  const start = performance.now();
  const result = fn();
  await result.catch(() => {});
  return { ms: performance.now() - start, result };
}

describe("per-request timeout", () => {
  it("defaults to 30 s", () => {
    expect(DEFAULT_API_TIMEOUT_MS).toBe(30_000);
  });

  it("a GET that is never answered fails after the timeout with a KubeError naming the object, retried as a read", async () => {
    const s = await serve("/api/v1/namespaces/team", [hang]);
    const client = new ApiServerKubeClient({
      kubeConfig: s.kubeConfig,
      logger: s.logger,
      retry: s.retry,
      timeoutMs: TIMEOUT_MS,
    });
    const { ms, result } = await timed(() => client.getNamespace("team"));
    const err = await failure(result);
    expect(err.code).toBeUndefined();
    expect(err.operation).toBe("get");
    expect(err.object).toBe("Namespace team");
    expect(err.message).toBe("get Namespace team: request timed out after 0.2 s");
    // Every attempt waited out its own timeout: four hung requests, no waits between them (sleep records).
    expect(s.hits()).toHaveLength(DEFAULT_RETRY.maxAttempts);
    expect(s.sleeps).toHaveLength(DEFAULT_RETRY.maxAttempts - 1);
    expect(ms).toBeGreaterThanOrEqual(DEFAULT_RETRY.maxAttempts * TIMEOUT_MS - 20);
    expect(ms).toBeLessThan(DEFAULT_RETRY.maxAttempts * TIMEOUT_MS + SLACK_MS);
    for (let i = 1; i < s.arrivals.length; i++)
      expect((s.arrivals[i] ?? 0) - (s.arrivals[i - 1] ?? 0)).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    expect(s.logs.map((l) => l.err)).toEqual(
      Array(DEFAULT_RETRY.maxAttempts - 1).fill("get Namespace team: request timed out after 0.2 s"),
    );
    expect(s.logs[0]).toMatchObject({ msg: "API request failed; retrying", object: "Namespace team" });
  });

  it("a GET that hangs once succeeds on the retry", async () => {
    const s = await serve("/api/v1/namespaces/team", [hang, okNamespace]);
    const client = new ApiServerKubeClient({
      kubeConfig: s.kubeConfig,
      logger: s.logger,
      retry: s.retry,
      timeoutMs: TIMEOUT_MS,
    });
    expect((await client.getNamespace("team"))?.meta.name).toBe("team");
    expect(s.hits()).toHaveLength(2);
    expect(s.sleeps).toEqual([375]);
  });

  it("a body that stops halfway times out too (the deadline covers reading it)", async () => {
    const s = await serve("/api/v1/namespaces", [stallBody]);
    const client = new ApiServerKubeClient({
      kubeConfig: s.kubeConfig,
      logger: s.logger,
      retry: { ...s.retry, maxAttempts: 2 },
      timeoutMs: TIMEOUT_MS,
    });
    const err = await failure(client.listNamespaces());
    expect(err.code).toBeUndefined();
    expect(err.message).toBe("list Namespaces: request timed out after 0.2 s");
    expect(s.hits()).toHaveLength(2);
  });

  it("a PATCH that is never answered is not retried: it may have been applied", async () => {
    const path = "/apis/apps/v1/namespaces/team/deployments/web";
    const s = await serve(path, [hang]);
    const client = new ApiServerKubeClient({
      kubeConfig: s.kubeConfig,
      logger: s.logger,
      retry: s.retry,
      timeoutMs: TIMEOUT_MS,
    });
    const { ms, result } = await timed(() =>
      client.patch({ kind: "Deployment", namespace: "team", name: "web" }, { replicas: 0 }),
    );
    const err = await failure(result);
    expect(err.code).toBeUndefined();
    expect(err.message).toBe("patch Deployment team/web: request timed out after 0.2 s");
    expect(s.hits()).toHaveLength(1);
    expect(s.hits()[0]?.method).toBe("PATCH");
    expect(s.sleeps).toEqual([]);
    expect(s.logs).toEqual([]);
    expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    expect(ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
  });

  it("the cache's LISTs time out and are retried the same way", async () => {
    const s = await serve("/api/v1/namespaces", [
      hang,
      (res) => json(res, 200, { metadata: { resourceVersion: "42" }, items: [namespace("team")] }),
    ]);
    const source = new ApiServerListWatch(s.kubeConfig, {
      logger: s.logger,
      retry: s.retry,
      timeoutMs: TIMEOUT_MS,
    });
    const page = await source.list("Namespace", { limit: 10 });
    expect(page.resourceVersion).toBe("42");
    expect(s.hits()).toHaveLength(2);
    expect(s.logs[0]).toMatchObject({
      object: "Namespaces",
      err: "list Namespaces: request timed out after 0.2 s",
    });
  });

  it("a watch open far longer than the timeout is not cut", async () => {
    let watchRes: ServerResponse | undefined;
    const s = await serve("/api/v1/namespaces", [
      (res) => {
        watchRes = res;
        res.writeHead(200, { "content-type": "application/json" });
        res.flushHeaders();
        // The first event only after three timeouts.
        setTimeout(() => {
          res.write(`${JSON.stringify({ type: "ADDED", object: namespace("late") })}\n`);
        }, 3 * TIMEOUT_MS);
      },
    ]);
    const source = new ApiServerListWatch(s.kubeConfig, { retry: s.retry, timeoutMs: TIMEOUT_MS });
    const events: { type: WatchEventType; object: RawObject }[] = [];
    const ended: unknown[] = [];
    const stream = await source.watch(
      "Namespace",
      { resourceVersion: "1", timeoutSeconds: 60 },
      (type, object) => events.push({ type, object }),
      (err) => ended.push(err),
    );
    try {
      const deadline = Date.now() + 3 * TIMEOUT_MS + SLACK_MS;
      while (events.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      // Well past the timeout again: still open, nothing ended.
      await new Promise((r) => setTimeout(r, 2 * TIMEOUT_MS));
      expect(events.map((e) => [e.type, e.object.metadata?.name])).toEqual([["ADDED", "late"]]);
      expect(ended).toEqual([]);
      expect(watchRes?.destroyed).toBe(false);
      expect(s.hits().map((r) => r.query.get("watch"))).toEqual(["true"]);
    } finally {
      stream.stop();
    }
  });

  it("keeps the User-Agent makeApiClient sends", async () => {
    const s = await serve("/api/v1/namespaces/team", [okNamespace]);
    await s.kubeConfig.makeApiClient(CoreV1Api).readNamespace({ name: "team" });
    await makeApiClient(s.kubeConfig, CoreV1Api, TIMEOUT_MS).readNamespace({ name: "team" });
    const [theirs, ours] = s.hits().map((r) => r.headers["user-agent"]);
    expect(theirs).toMatch(/^kubernetes-client-javascript\/\d/);
    expect(ours).toBe(theirs);
    expect(s.hits().map((r) => r.headers.authorization)).toEqual(["Bearer fake-token", "Bearer fake-token"]);
  });
});

describe("requestTimeout middleware", () => {
  it("sets a signal that aborts with TimeoutError after the timeout", async () => {
    const context = new RequestContext("http://127.0.0.1/api", HttpMethod.GET);
    await requestTimeout(50).pre(context);
    const signal = context.getSignal();
    expect(signal?.aborted).toBe(false);
    await new Promise((r) => setTimeout(r, 120));
    expect(signal?.aborted).toBe(true);
    expect((signal?.reason as Error | undefined)?.name).toBe("TimeoutError");
  });

  it("keeps a signal already set: either one aborts the request", async () => {
    const caller = new AbortController();
    const context = new RequestContext("http://127.0.0.1/api", HttpMethod.GET);
    context.setSignal(caller.signal);
    await requestTimeout(60_000).pre(context);
    const signal = context.getSignal();
    expect(signal).not.toBe(caller.signal);
    expect(signal?.aborted).toBe(false);
    caller.abort(new Error("caller gave up"));
    expect(signal?.aborted).toBe(true);
    expect((signal?.reason as Error | undefined)?.message).toBe("caller gave up");
  });

  it("call() names the timeout; without one in the context it still says it timed out", async () => {
    const timeout = () =>
      Promise.reject(new DOMException("The operation was aborted due to timeout", "TimeoutError"));
    const once = { ...DEFAULT_RETRY, maxAttempts: 1 };
    const named = await failure(call({ retry: once, timeoutMs: 1_500 }, "get", "Secret a/b", timeout));
    expect(named.message).toBe("get Secret a/b: request timed out after 1.5 s");
    const plain = await failure(call({ retry: once }, "get", "Secret a/b", timeout));
    expect(plain.message).toBe("get Secret a/b: request timed out");
    expect(plain.code).toBeUndefined();
  });
});
