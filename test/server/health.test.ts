import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/log.js";
import { SlumberMetrics } from "../../src/metrics/registry.js";
import { type HealthServer, startHealthServer } from "../../src/server/health.js";

const silent = createLogger("silent", new Writable({ write: (_c, _e, done) => done() }));

describe("health server", () => {
  let server: HealthServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function start(isReady: () => boolean, metrics = new SlumberMetrics({ defaultMetrics: false })) {
    server = await startHealthServer({ port: 0, host: "127.0.0.1", metrics, isReady, logger: silent });
    return `http://127.0.0.1:${server.port}`;
  }

  it("answers /healthz while the process lives", async () => {
    const base = await start(() => false);
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
  });

  it("answers /readyz 503 until the reconciler is ready, then 200", async () => {
    let ready = false;
    const base = await start(() => ready);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    ready = true;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });

  it("serves the registry on /metrics in the Prometheus text format", async () => {
    const metrics = new SlumberMetrics({ defaultMetrics: false });
    metrics.proxyRequest("vcluster-a", "a", "forwarded");
    const base = await start(() => true, metrics);
    const res = await fetch(`${base}/metrics?x=1`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    expect(await res.text()).toContain(
      'slumber_proxy_requests_total{namespace="vcluster-a",name="a",outcome="forwarded"} 1',
    );
  });

  it("answers 404 for other paths and 405 for other methods", async () => {
    const base = await start(() => true);
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metricsx`)).status).toBe(404);
    expect((await fetch(`${base}/healthz`, { method: "POST" })).status).toBe(405);
  });

  it("rejects when the port is taken", async () => {
    await start(() => true);
    await expect(
      startHealthServer({
        port: server!.port,
        host: "127.0.0.1",
        metrics: new SlumberMetrics({ defaultMetrics: false }),
        isReady: () => true,
        logger: silent,
      }),
    ).rejects.toThrow(/EADDRINUSE/);
  });
});
