// The spans of one sleep and one wake, as an in-memory exporter receives them from the real reconciler
// (on the in-memory kube) through the TracingObserver; and withSpan / the reconcile-pass wrapper.
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { Annotations } from "../../src/policy/annotations.js";
import { Reconciler } from "../../src/reconciler/reconciler.js";
import { TracingObserver } from "../../src/tracing/observer.js";
import { tracedReconcileAll, tracingRequested } from "../../src/tracing/setup.js";
import { SPAN_NAMES, targetAttributes, withSpan } from "../../src/tracing/spans.js";
import { harness, T0, testConfig } from "../fakes/harness.js";

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");

function tracing() {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  return { exporter, tracer: provider.getTracer("test") };
}

describe("sleep and wake spans", () => {
  it("one sleep and one wake of a vcluster: one span each, with the target and the reason", async () => {
    const { exporter, tracer } = tracing();
    const h = harness();
    const reconciler = new Reconciler({
      kube: h.kube,
      config: testConfig(),
      clock: h.clock,
      observer: new TracingObserver(h.observer, tracer),
      logger: pino({ level: "silent" }),
      timers: h.timers,
    });
    h.kube.addControlPlane({
      namespace: "vc-a",
      release: "a",
      replicas: 1,
      annotations: { [Annotations.sleepAfter]: "1h", [Annotations.lastActivity]: iso(T0) },
    });
    await reconciler.reconcileAll();
    expect(exporter.getFinishedSpans()).toEqual([]);

    h.clock.ms = T0 + HOUR;
    await reconciler.reconcileAll();
    const [sleep] = exporter.getFinishedSpans();
    expect(exporter.getFinishedSpans()).toHaveLength(1);
    expect(sleep?.name).toBe(SPAN_NAMES.sleep);
    expect(sleep?.attributes).toEqual({
      "slumber.target.kind": "vcluster",
      "slumber.target.namespace": "vc-a",
      "slumber.target.name": "a",
      "slumber.reason": "inactivity",
    });
    expect(sleep?.status.code).toBe(0);

    // A deliberate wake; the control plane is not ready yet, so the wake span stays open.
    h.clock.ms = T0 + 3 * HOUR;
    h.kube.externalPatch(
      { kind: "StatefulSet", namespace: "vc-a", name: "a" },
      { annotations: { [Annotations.lastWake]: iso(h.clock.ms) } },
    );
    h.kube.autoReady = false;
    await reconciler.reconcileAll();
    const names = () => exporter.getFinishedSpans().map((s) => s.name);
    expect(names()).toEqual([SPAN_NAMES.sleep]);

    h.clock.ms = T0 + 3 * HOUR + 20_000;
    h.kube.setReady("vc-a", "a", 1);
    await reconciler.reconcileAll();
    expect(names()).toEqual([SPAN_NAMES.sleep, SPAN_NAMES.wake]);
    const wake = exporter.getFinishedSpans()[1];
    expect(wake?.attributes).toEqual({
      ...targetAttributes({ kind: "vcluster", namespace: "vc-a", name: "a" }),
      "slumber.reason": "manual",
    });
    expect(wake?.status.code).toBe(0);
    // The recording observer underneath still saw everything.
    expect(h.observer.transitions.map((t) => t.to)).toEqual(["asleep", "awake"]);
    expect(h.observer.wakes).toHaveLength(1);
  });
});

describe("withSpan and the reconcile pass", () => {
  it("ends the span with the result, marks it failed on a throw and rethrows", async () => {
    const { exporter, tracer } = tracing();
    await expect(withSpan("ok", { a: 1 }, () => 42, tracer)).resolves.toBe(42);
    await expect(
      withSpan(
        "boom",
        {},
        async () => {
          throw new Error("no");
        },
        tracer,
      ),
    ).rejects.toThrow("no");
    const [ok, boom] = exporter.getFinishedSpans();
    expect(ok?.attributes).toEqual({ a: 1 });
    expect(ok?.status.code).toBe(0);
    expect(boom?.status).toEqual({ code: 2, message: "no" });
  });

  it("wraps reconcileAll on the instance, so the reconciler's own resync calls are traced too", async () => {
    const { exporter, tracer } = tracing();
    let calls = 0;
    const fake = { reconcileAll: async () => void calls++ };
    const traced = tracedReconcileAll(fake, tracer);
    await traced.reconcileAll();
    expect(calls).toBe(1);
    expect(traced).toBe(fake);
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual([SPAN_NAMES.reconcilePass]);
  });

  it("exports only when an OTLP endpoint is configured", () => {
    expect(tracingRequested({})).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/v1/traces" })).toBe(true);
    expect(
      tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "true" }),
    ).toBe(false);
  });
});

describe("startTracing", () => {
  it("with OTEL_EXPORTER_OTLP_ENDPOINT set, loads the SDK and posts spans over OTLP/HTTP; without it, nothing", async () => {
    const { createServer } = await import("node:http");
    const received: Array<{ path: string; bytes: number }> = [];
    const server = createServer((req, res) => {
      let bytes = 0;
      req.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
      });
      req.on("end", () => {
        received.push({ path: req.url ?? "", bytes });
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    const port = (server.address() as import("node:net").AddressInfo).port;
    const logger = pino({ level: "silent" });
    try {
      const { startTracing } = await import("../../src/tracing/setup.js");
      const none = await startTracing({}, logger);
      await withSpan(SPAN_NAMES.reconcilePass, {}, () => undefined);
      await none();
      expect(received).toEqual([]);

      const shutdown = await startTracing(
        { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` },
        logger,
      );
      await withSpan(
        SPAN_NAMES.sleep,
        targetAttributes({ kind: "namespace", namespace: "shop", name: "shop" }),
        () => 1,
      );
      await shutdown();
      expect(received.map((r) => r.path)).toEqual(["/v1/traces"]);
      expect(received[0]!.bytes).toBeGreaterThan(0);
    } finally {
      server.close();
    }
  });
});
