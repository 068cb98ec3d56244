// Performing a step: the write itself (or, in dry-run, only saying it), then what it means to the outside:
// Events on the objects, transitions and errors in the metrics, one log line. Errors are reported once per
// distinct error, not once per pass.
import type { Clock } from "../clock.js";
import { describeRef, type KubeClient, KubeError, type ObjectRef } from "../kube/types.js";
import type { Logger } from "../log.js";
import type { PolicyError } from "../policy/types.js";
import { namespaceRef } from "../targets/namespace.js";
import { applyStep, type Step } from "../targets/steps.js";
import { targetKey } from "../targets/types.js";
import { controlPlaneRef } from "../targets/vcluster.js";
import type { Evaluated } from "./evaluate.js";
import type { TargetMemory } from "./memory.js";
import type { ReconcileObserver } from "./observer.js";
import { sleepReasonOf } from "./rules.js";

const EVENT_FOR: Partial<
  Record<Step["purpose"], { reason: string; action: string; type: "Normal" | "Warning" }>
> = {
  revertUndone: { reason: "RevertUndone", action: "Sleep", type: "Warning" },
  adoptPause: { reason: "PausedExternally", action: "Sleep", type: "Normal" },
  adoptResume: { reason: "ResumedExternally", action: "Wake", type: "Normal" },
};

interface EventSpec {
  reason: string;
  action: string;
  type: "Normal" | "Warning";
  note: string;
  regarding: ObjectRef;
}

export interface EffectsDeps {
  kube: KubeClient;
  clock: Clock;
  observer: ReconcileObserver;
  logger: Logger;
  memory: TargetMemory;
  dryRun: boolean;
}

/** The object carrying a target's sleep record: its control plane or its Namespace. */
export const recordRef = (e: Evaluated): ObjectRef =>
  e.kind === "vcluster" ? controlPlaneRef(e.plane) : namespaceRef(e.namespace.meta.name);

export class StepEffects {
  constructor(private readonly deps: EffectsDeps) {}

  /** Applies one step (or, in dry-run, logs it and returns false); emits the Events and transitions it means. */
  async perform(e: Evaluated, step: Step): Promise<boolean> {
    const { kube, memory, observer, clock } = this.deps;
    const key = targetKey(e.ref);
    const log = this.deps.logger.child({ target: key });
    if (this.deps.dryRun) {
      log.info({ step: step.purpose, dryRun: true }, `would ${step.note}`);
      return false;
    }
    await applyStep(kube, step);
    log.info({ step: step.purpose }, step.note);
    if (step.purpose === "activity") memory.activity.commit(key);
    if (step.action === "patch" && step.ref.kind !== "Namespace")
      memory.clearReport(key, workloadTopic(step));
    const regarding = step.action === "patch" ? step.ref : recordRef(e);
    const special = EVENT_FOR[step.purpose];
    // Events are best effort (event() reports its own failure): not awaited, the next write need not wait.
    if (special) void this.event(e, { ...special, note: step.note, regarding });
    if (step.purpose === "record") {
      observer.transition(e.ref, "asleep", sleepReasonOf(e));
      memory.pendingWakes.delete(key);
      void this.event(e, {
        reason: "Sleeping",
        action: "Sleep",
        type: "Normal",
        note: `going to sleep: ${e.decision.reason}`,
        regarding: recordRef(e),
      });
    }
    if (step.purpose === "wake") {
      // A bounded label: the decision's text names times and would make one series per wake.
      observer.transition(e.ref, "awake", e.decision.state === "awake" ? e.decision.wakeReason : "unmanaged");
      memory.pendingWakes.set(key, clock.now());
      observer.wakeStarted?.(e.ref);
      void this.event(e, {
        reason: "Woken",
        action: "Wake",
        type: "Normal",
        note: `woken: ${e.decision.reason}`,
        regarding: recordRef(e),
      });
    }
    if (step.purpose === "adoptResume") observer.transition(e.ref, "awake", "manual");
    if (step.purpose === "adoptPause") observer.transition(e.ref, "asleep", "manual");
    return true;
  }

  /**
   * One workload's write failed (an admission policy, a 5xx, a deleted object, repeated conflicts): report
   * it (log, `slumber_api_errors_total`, one Event per distinct error, the target's REASON) and let the pass
   * go on with the others. Returns the REASON text, or null when the failure must stop the pass instead.
   */
  workloadStepFailed(e: Evaluated, step: Step, err: unknown): string | null {
    if (!(err instanceof KubeError) || step.action !== "patch" || step.ref.kind === "Namespace") return null;
    const what = step.purpose === "restore" ? "wake" : "sleep";
    const message = `${describeRef(step.ref)}: ${what} failed (retried next pass): ${
      err.code === undefined ? "" : `HTTP ${err.code} `
    }${err.message}`;
    this.deps.observer.apiError(err.operation, err.code);
    if (
      this.deps.memory.report(targetKey(e.ref), workloadTopic(step), `${what}:${err.code}:${err.message}`)
    ) {
      this.deps.logger.warn(
        { target: targetKey(e.ref), object: err.object, code: err.code, step: step.purpose },
        message,
      );
      void this.event(e, {
        reason: what === "wake" ? "WakeFailed" : "SleepFailed",
        action: what === "wake" ? "Wake" : "Sleep",
        type: "Warning",
        note: message,
        regarding: step.ref,
      });
    }
    return message;
  }

  /** Errors that leave a target as it is (policy, not persistent, stopped outside Slumber): once per distinct set. */
  reportErrors(e: Evaluated, errors: readonly PolicyError[], reason: string): void {
    const key = targetKey(e.ref);
    const signature = JSON.stringify(errors.map((err) => [err.key, err.value, err.message]));
    // Once per distinct error, like the Event: the gauge carries it on every pass, the log need not.
    if (!this.deps.memory.report(key, reason, signature)) return;
    const log = this.deps.logger.child({ target: key });
    for (const err of errors) log.warn({ annotation: err.key, value: err.value, reason }, err.message);
    void this.event(e, {
      reason,
      action: "Evaluate",
      type: "Warning",
      note: errors.map((err) => `${err.key}="${err.value}": ${err.message}`).join("; "),
      regarding: recordRef(e),
    });
  }

  /** A failed API call or an unexpected error outside a workload write: counted, logged, retried next pass. */
  reportApiError(err: unknown, context: string): void {
    if (err instanceof KubeError) {
      this.deps.observer.apiError(err.operation, err.code);
      this.deps.logger.warn(
        { operation: err.operation, object: err.object, code: err.code, context },
        `API call failed; retrying next pass: ${err.message}`,
      );
      return;
    }
    this.deps.observer.apiError(context, undefined);
    this.deps.logger.error({ err, context }, "unexpected error; retrying next pass");
  }

  private async event(e: Evaluated, spec: EventSpec): Promise<void> {
    if (this.deps.dryRun) return;
    try {
      await this.deps.kube.recordEvent(spec);
    } catch (err) {
      // An Event that cannot be written must not stop the sleep or wake it describes.
      this.reportApiError(err, `event about ${targetKey(e.ref)}`);
    }
  }
}

const workloadTopic = (step: Step): string =>
  step.action === "patch" ? `workload:${step.ref.kind}/${step.ref.name}` : "workload";
