// Sleep and wake spans from the reconciler's observer calls, so the reconciler itself needs no tracing code:
// a sleep runs from its first write (transition to asleep) until the pass that finds it settled; a wake from
// its write until the target is ready (wakeCompleted), or until it is put back to sleep or removed.
import { type Span, SpanStatusCode, type Tracer } from "@opentelemetry/api";
import type { DesiredState, TargetKind } from "../policy/types.js";
import type { ReconcileObserver } from "../reconciler/observer.js";
import { type TargetRef, type TargetView, targetKey } from "../targets/types.js";
import { SPAN_NAMES, slumberTracer, targetAttributes } from "./spans.js";

/** Passes every call on to `inner` (the metrics) and keeps one open sleep or wake span per target. */
export class TracingObserver implements ReconcileObserver {
  private readonly sleeping = new Map<string, Span>();
  private readonly waking = new Map<string, Span>();
  /** The reason of the last transition to awake, which `wakeStarted` (called just after) puts on its span. */
  private readonly wakeReasons = new Map<string, string>();

  constructor(
    private readonly inner: ReconcileObserver,
    private readonly tracer: Tracer = slumberTracer(),
  ) {}

  targetObserved(view: TargetView, now: number): void {
    this.inner.targetObserved(view, now);
    const key = targetKey(view);
    const sleep = this.sleeping.get(key);
    // A published view means the target's steps are done: the sleep has settled.
    if (sleep && view.state === "asleep") this.end(this.sleeping, key);
    else if (sleep && view.state !== "asleep") this.end(this.sleeping, key, "did not stay asleep");
  }

  targetRemoved(ref: TargetRef): void {
    this.inner.targetRemoved(ref);
    const key = targetKey(ref);
    this.end(this.sleeping, key, "target removed");
    this.end(this.waking, key, "target removed");
    this.wakeReasons.delete(key);
  }

  transition(ref: TargetRef, to: DesiredState, reason: string): void {
    this.inner.transition(ref, to, reason);
    const key = targetKey(ref);
    if (to === "asleep") {
      this.end(this.waking, key, "put back to sleep before it was ready");
      if (!this.sleeping.has(key)) this.sleeping.set(key, this.start(SPAN_NAMES.sleep, ref, reason));
    } else {
      this.end(this.sleeping, key, "woken before the sleep settled");
      this.wakeReasons.set(key, reason);
    }
  }

  wakeStarted(ref: TargetRef): void {
    this.inner.wakeStarted?.(ref);
    const key = targetKey(ref);
    if (this.waking.has(key)) return;
    this.waking.set(key, this.start(SPAN_NAMES.wake, ref, this.wakeReasons.get(key)));
    this.wakeReasons.delete(key);
  }

  wakeCompleted(kind: TargetKind, seconds: number, ref?: TargetRef): void {
    this.inner.wakeCompleted(kind, seconds, ref);
    if (ref) this.end(this.waking, targetKey(ref));
  }

  loopCompleted(seconds: number): void {
    this.inner.loopCompleted(seconds);
  }

  apiError(operation: string, code: number | undefined): void {
    this.inner.apiError(operation, code);
  }

  private start(name: string, ref: TargetRef, reason: string | undefined): Span {
    // A root span: a wake outlives the pass that started it.
    return this.tracer.startSpan(name, {
      root: true,
      attributes: { ...targetAttributes(ref), ...(reason === undefined ? {} : { "slumber.reason": reason }) },
    });
  }

  private end(spans: Map<string, Span>, key: string, failure?: string): void {
    const span = spans.get(key);
    if (!span) return;
    spans.delete(key);
    if (failure !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: failure });
    span.end();
  }
}
