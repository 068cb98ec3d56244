// Spans for the moments an operator traces: a reconcile pass, a sleep, a wake (decision to ready) and a
// request the wake proxy holds. Only @opentelemetry/api here: without an SDK (no
// OTEL_EXPORTER_OTLP_ENDPOINT) every call is a no-op costing next to nothing.
import { type Attributes, type Span, SpanStatusCode, type Tracer, trace } from "@opentelemetry/api";
import type { TargetRef } from "../targets/types.js";

export const SPAN_NAMES = {
  reconcilePass: "slumber.reconcile",
  sleep: "slumber.sleep",
  wake: "slumber.wake",
  /** For the wake proxy: from a request arriving at a sleeping target until it is forwarded or refused. */
  proxyHeld: "slumber.proxy.held",
} as const;

export const slumberTracer = (): Tracer => trace.getTracer("slumber");

/** The target as span attributes (the same names on every Slumber span). */
export const targetAttributes = (ref: TargetRef): Attributes => ({
  "slumber.target.kind": ref.kind,
  "slumber.target.namespace": ref.namespace,
  "slumber.target.name": ref.name,
});

/** Marks a span failed with the error's message and records the exception. */
export function failSpan(span: Span, error: unknown): void {
  const err = error instanceof Error ? error : new Error(String(error));
  span.recordException(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
}

/**
 * Runs `fn` inside an active span named `name`, ending it when `fn` settles; a throw marks the span failed
 * and is re-thrown. Spans started inside (with an SDK's context manager) become its children.
 *
 * The wake proxy uses it for a held request:
 *   withSpan(SPAN_NAMES.proxyHeld, targetAttributes(ref), async (span) => { ...; span.setAttribute("slumber.proxy.outcome", outcome) })
 */
export async function withSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T> | T,
  tracer: Tracer = slumberTracer(),
): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}
