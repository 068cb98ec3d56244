// Review: `slumber run --dry-run` promises to write nothing to the cluster, but the wake proxy (always started)
// generated its serving certificate and created Secret slumber/slumber-proxy-tls.
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.js";
import { SlumberMetrics } from "../../src/metrics/registry.js";
import { startWakeProxy } from "../../src/proxy/index.js";
import { harness } from "../fakes/harness.js";

describe("wake proxy under --dry-run", () => {
  it("serves a generated certificate from memory and creates no Secret", async () => {
    const h = harness({ dryRun: true });
    const proxy = await startWakeProxy({
      port: 0,
      host: "127.0.0.1",
      kube: h.kube,
      routes: h.reconciler.routes,
      wakePort: h.reconciler,
      observer: new SlumberMetrics(),
      clock: systemClock,
      logger: pino({ level: "silent" }),
      agentNamespace: "slumber",
      wakeTimeoutMs: 1_000,
      maxHeld: 10,
      dryRun: true,
    });
    try {
      expect(proxy.port).toBeGreaterThan(0);
      expect(h.kube.secrets.has("slumber/slumber-proxy-tls")).toBe(false);
    } finally {
      await proxy.close(10);
    }
  });
});
