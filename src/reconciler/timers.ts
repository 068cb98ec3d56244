// Timers: when a target's next transition is due, a pass runs for it. Injectable so tests drive schedule
// transitions with a fake clock.

/** setTimeout/clearTimeout, injectable. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimers: Timers = {
  setTimeout: (fn, ms) => {
    const handle = setTimeout(fn, ms);
    handle.unref?.();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Longest timer: longer waits are covered by resyncs (and setTimeout overflows past ~24.8 days). */
const MAX_TIMER_MS = 24 * 3_600_000;

/** One timer per target, at its next transition; re-arming replaces the previous one. */
export class TransitionTimers {
  private readonly handles = new Map<string, unknown>();

  constructor(private readonly timers: Timers) {}

  /** Fires `fire` at `at` (clamped to [now, now + 24 h]); `at` null only clears. */
  arm(key: string, at: number | null, now: number, fire: () => void): void {
    this.clear(key);
    if (at === null) return;
    const delay = Math.min(Math.max(0, at - now), MAX_TIMER_MS);
    this.handles.set(
      key,
      this.timers.setTimeout(() => {
        this.handles.delete(key);
        fire();
      }, delay),
    );
  }

  clear(key: string): void {
    const handle = this.handles.get(key);
    if (handle !== undefined) this.timers.clearTimeout(handle);
    this.handles.delete(key);
  }

  clearAll(): void {
    for (const handle of this.handles.values()) this.timers.clearTimeout(handle);
    this.handles.clear();
  }

  get size(): number {
    return this.handles.size;
  }
}

/** The periodic full pass: runs `pass`, then waits `intervalMs` after it ends, until stopped. */
export class Resync {
  private handle: unknown = null;
  private stopped = true;
  /** Bumped by every start/stop: a pass that ends after a restart does not schedule a second chain. */
  private generation = 0;

  constructor(
    private readonly timers: Timers,
    private readonly intervalMs: number,
    private readonly pass: () => Promise<void>,
  ) {}

  start(): void {
    this.stop();
    this.stopped = false;
    this.schedule(this.generation);
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    if (this.handle !== null) this.timers.clearTimeout(this.handle);
    this.handle = null;
  }

  private schedule(generation: number): void {
    if (this.stopped || generation !== this.generation) return;
    this.handle = this.timers.setTimeout(() => {
      this.handle = null;
      void this.pass().finally(() => this.schedule(generation));
    }, this.intervalMs);
  }
}
