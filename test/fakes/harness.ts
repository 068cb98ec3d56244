// A reconciler wired to the in-memory kube, a fake clock, manual timers and a recording observer.
import { pino } from "pino";
import type { AgentConfig } from "../../src/config/types.js";
import { DEFAULT_PRICES } from "../../src/metrics/cost.js";
import type { ReconcileObserver } from "../../src/reconciler/observer.js";
import { Reconciler, type Timers } from "../../src/reconciler/reconciler.js";
import { FakeKube } from "./kube.js";

export class FakeClock {
  constructor(public ms: number) {}
  now = (): number => this.ms;
}

/** Timers that fire when the fake clock is advanced past them. */
export class ManualTimers implements Timers {
  private pending: { at: number; fn: () => void; id: number }[] = [];
  private id = 0;
  constructor(private readonly clock: FakeClock) {}
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.id;
    this.pending.push({ at: this.clock.ms + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending = this.pending.filter((t) => t.id !== handle);
  }
  /** Moves the clock forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.clock.ms + ms;
    for (;;) {
      const due = this.pending.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.pending = this.pending.filter((t) => t !== due);
      this.clock.ms = Math.max(this.clock.ms, due.at);
      due.fn();
    }
    this.clock.ms = end;
  }
  dueTimes(): number[] {
    return this.pending.map((t) => t.at).sort((a, b) => a - b);
  }
}

export interface RecordedObserver extends ReconcileObserver {
  transitions: { key: string; to: string; reason: string }[];
  wakes: { kind: string; seconds: number }[];
  apiErrors: { operation: string; code: number | undefined }[];
}

export function recordingObserver(): RecordedObserver {
  const observer: RecordedObserver = {
    transitions: [],
    wakes: [],
    apiErrors: [],
    targetObserved() {},
    targetRemoved() {},
    transition(ref, to, reason) {
      observer.transitions.push({ key: `${ref.kind}/${ref.namespace}/${ref.name}`, to, reason });
    },
    wakeCompleted(kind, seconds) {
      observer.wakes.push({ kind, seconds });
    },
    loopCompleted() {},
    apiError(operation, code) {
      observer.apiErrors.push({ operation, code });
    },
  };
  return observer;
}

export function testConfig(overrides: Partial<AgentConfig> = {}): AgentConfig {
  return {
    policy: { defaultTimezone: "UTC", defaultSleepAfterMs: 3_600_000, manageAll: false, defaults: {} },
    excludeNamespaces: [/^kube-system$/, /^kube-public$/, /^slumber$/],
    agentNamespace: "slumber",
    dryRun: false,
    resyncMs: 30_000,
    prices: DEFAULT_PRICES,
    ...overrides,
  };
}

export const T0 = Date.parse("2025-03-03T10:00:00Z"); // a Monday

/** `kube` reuses a cluster, e.g. to model an agent restarted over the state a crashed one left. */
export function harness(overrides: Partial<AgentConfig> = {}, kube = new FakeKube()) {
  const clock = new FakeClock(T0);
  const timers = new ManualTimers(clock);
  const observer = recordingObserver();
  const reconciler = new Reconciler({
    kube,
    config: testConfig(overrides),
    clock,
    observer,
    logger: pino({ level: "silent" }),
    timers,
  });
  return { kube, clock, timers, observer, reconciler };
}
