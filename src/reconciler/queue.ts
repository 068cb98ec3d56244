// When passes run, and never two at once for one target: a de-duplicating work queue drained by a few
// workers, and per-target locks shared by queued, full and on-demand passes.
import { type TargetRef, targetKey } from "../targets/types.js";

/** One pass at a time per target: a watch-triggered pass and a full pass must not both act on it. */
export class TargetLocks {
  private readonly locks = new Map<string, Promise<void>>();

  /** Runs `run` once no other pass holds the target; `waited` tells it whether one did. */
  async exclusive(ref: TargetRef, run: (waited: boolean) => Promise<void>): Promise<void> {
    const key = targetKey(ref);
    const previous = this.locks.get(key);
    const current = (async () => {
      if (previous) await previous;
      await run(previous !== undefined);
    })();
    const settled = current.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(key, settled);
    try {
      await current;
    } finally {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    }
  }

  get size(): number {
    return this.locks.size;
  }
}

/**
 * Targets waiting for a pass, each at most once however often it is enqueued (a burst of watch events is
 * one pass). Drained in order by up to `concurrency` workers: at a schedule instant a thousand targets come
 * due at once, and one at a time their sleeps would queue behind each other's API round trips. Two passes
 * of one target never overlap: `process` takes the target's lock.
 */
export class WorkQueue {
  private readonly keys = new Set<string>();
  private readonly workers = new Set<Promise<void>>();
  private open = false;

  constructor(
    private readonly process: (ref: TargetRef) => Promise<unknown>,
    private readonly concurrency = 1,
  ) {}

  start(): void {
    this.open = true;
  }

  /** Stops taking work and waits for the passes in progress. */
  async stop(): Promise<void> {
    this.open = false;
    this.keys.clear();
    await this.idle();
  }

  add(ref: TargetRef): void {
    if (!this.open) return;
    this.keys.add(targetKey(ref));
    this.spawn();
  }

  /** Resolves once nothing is queued or running. */
  async idle(): Promise<void> {
    while (this.workers.size > 0) await Promise.all(this.workers);
  }

  get size(): number {
    return this.keys.size;
  }

  /** One more worker, when there is work for it and room. */
  private spawn(): void {
    if (this.workers.size >= this.concurrency || this.keys.size === 0 || !this.open) return;
    const worker: Promise<void> = this.work().finally(() => {
      this.workers.delete(worker);
      // Added after this worker last looked, while every worker was busy: not stranded.
      this.spawn();
    });
    this.workers.add(worker);
  }

  private async work(): Promise<void> {
    while (this.keys.size > 0 && this.open) {
      const [key] = this.keys;
      if (key === undefined) break;
      this.keys.delete(key);
      const [kind, namespace, name] = key.split("/");
      await this.process({ kind: kind as TargetRef["kind"], namespace: namespace ?? "", name: name ?? "" });
    }
  }
}
