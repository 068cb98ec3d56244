// Turns tracing on only when OTEL_EXPORTER_OTLP_ENDPOINT (or its traces-only form) is set: the SDK and the
// OTLP exporter are imported then, and never otherwise.
import { context, type Tracer, trace } from "@opentelemetry/api";
import type { Logger } from "../log.js";
import { withoutCredentials } from "../metrics/prices-from-prometheus.js";
import { SPAN_NAMES, withSpan } from "./spans.js";

export { TracingObserver } from "./observer.js";

/** True when the standard OTel variables ask for an OTLP export of traces. */
export const tracingRequested = (env: Readonly<Record<string, string | undefined>>): boolean =>
  Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) &&
  env.OTEL_TRACES_EXPORTER !== "none" &&
  env.OTEL_SDK_DISABLED !== "true";

/** The OTLP/HTTP traces URL: the traces-only variable as is, else the base endpoint + `/v1/traces` (OTel spec). */
export function tracesUrl(env: Readonly<Record<string, string | undefined>>): string {
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  return `${(env.OTEL_EXPORTER_OTLP_ENDPOINT ?? "").replace(/\/+$/, "")}/v1/traces`;
}

/**
 * Registers a tracer provider exporting over OTLP/HTTP (endpoint, headers and protocol from the standard
 * OTEL_* variables, read by the exporter). Returns a shutdown that flushes the spans still queued.
 */
export async function startTracing(
  env: Readonly<Record<string, string | undefined>>,
  logger: Logger,
): Promise<() => Promise<void>> {
  if (!tracingRequested(env)) return async () => {};
  const [{ TracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }, hooks] =
    await Promise.all([
      import("@opentelemetry/sdk-trace"),
      import("@opentelemetry/exporter-trace-otlp-http"),
      import("@opentelemetry/resources"),
      import("@opentelemetry/context-async-hooks"),
    ]);
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": env.OTEL_SERVICE_NAME ?? "slumber" }),
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: tracesUrl(env) }) })],
  });
  const contextManager = new hooks.AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  trace.setGlobalTracerProvider(provider);
  logger.info(
    {
      endpoint: withoutCredentials(
        env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT ?? "",
      ),
    },
    "exporting traces over OTLP",
  );
  return async () => {
    await provider.shutdown().catch((error: unknown) => {
      logger.warn({ err: (error as Error).message }, "could not flush the last spans");
    });
  };
}

/** Wraps the instance's `reconcileAll` (which its resync timer calls too) in a reconcile-pass span. */
export function tracedReconcileAll<R extends { reconcileAll(): Promise<void> }>(
  reconciler: R,
  tracer?: Tracer,
): R {
  const untraced = reconciler.reconcileAll.bind(reconciler);
  reconciler.reconcileAll = () => withSpan(SPAN_NAMES.reconcilePass, {}, () => untraced(), tracer);
  return reconciler;
}
