// Leader election on a coordination.k8s.io Lease, the client-go algorithm: acquire when the lease is free
// or its holder has not renewed for a whole lease duration (measured on OUR clock from when we last saw the
// record change, so clock skew between replicas does not matter); renew every retry period; stop leading
// when no renew succeeded for `renewDeadlineMs` (< lease duration, so we stop before anyone else may start);
// release on a clean stop so a successor takes over at once instead of after a lease duration.
import type { Logger } from "../log.js";

/** A Lease as the election sees it. Times are milliseconds since the epoch. */
export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: number;
  renewTime: number;
  leaseTransitions: number;
}

export interface StoredLease {
  record: LeaseRecord;
  /** Optimistic concurrency: an update with a stale version fails with a conflict. */
  resourceVersion: string;
}

/** The three API calls the election needs; the real one is src/kube/lease.ts, tests use an in-memory one. */
export interface LeaseStore {
  /** null when the Lease does not exist. */
  get(): Promise<StoredLease | null>;
  /** Rejects when it already exists (someone else created it first). */
  create(record: LeaseRecord): Promise<StoredLease>;
  /** Rejects on a resourceVersion conflict. */
  update(record: LeaseRecord, resourceVersion: string): Promise<StoredLease>;
  /** Names the Lease in logs, e.g. `slumber/slumber`. */
  readonly description: string;
}

export interface ElectionTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface LeaderElectionOptions {
  store: LeaseStore;
  /** Unique per process: pod name plus a random suffix. */
  identity: string;
  /** How long a holder's claim lasts without renewal (client-go default 15 s). */
  leaseDurationMs?: number;
  /** A leader that could not renew for this long stops leading (default 10 s; must be < lease duration). */
  renewDeadlineMs?: number;
  /** Interval between attempts to acquire or renew (default 2 s). */
  retryPeriodMs?: number;
  now?: () => number;
  timers?: ElectionTimers;
  logger: Logger;
}

export interface LeadershipHandlers {
  /** Called when this process becomes the leader. */
  onStartedLeading: () => void;
  /** Called when it stops being the leader: lost (not renewed in time, or taken), or released by stop(). */
  onStoppedLeading: (why: "lost" | "released") => void;
}

const realTimers: ElectionTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export class LeaderElection {
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  private readonly store: LeaseStore;
  private readonly now: () => number;
  private readonly timers: ElectionTimers;
  private readonly logger: Logger;
  private handlers: LeadershipHandlers = { onStartedLeading: () => {}, onStoppedLeading: () => {} };

  private observed: StoredLease | null = null;
  /** Our clock when `observed` last changed holder or renew time. */
  private observedAt = 0;
  private leading = false;
  /** Our clock when the last successful renew was *sent*: conservative, the server saw it later. */
  private lastRenewSentAt = 0;
  private timer: unknown = null;
  private running = false;
  private attempt: Promise<void> | null = null;
  private lastHolderLogged: string | null = null;

  constructor(options: LeaderElectionOptions) {
    this.store = options.store;
    this.identity = options.identity;
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (!(this.renewDeadlineMs < this.leaseDurationMs))
      throw new Error(
        `leader election: renew deadline (${this.renewDeadlineMs} ms) must be shorter than the lease duration (${this.leaseDurationMs} ms)`,
      );
    if (!(this.retryPeriodMs < this.renewDeadlineMs))
      throw new Error(
        `leader election: retry period (${this.retryPeriodMs} ms) must be shorter than the renew deadline (${this.renewDeadlineMs} ms)`,
      );
    this.now = options.now ?? Date.now;
    this.timers = options.timers ?? realTimers;
    this.logger = options.logger;
  }

  /**
   * True while this process may write. Checked against the clock on every call, not only by the renew
   * loop: a process whose event loop stalled past the renew deadline is no longer the leader even
   * before its timers fire.
   */
  isLeader(): boolean {
    return this.leading && this.now() - this.lastRenewSentAt < this.renewDeadlineMs;
  }

  /** The holder last seen on the Lease ("" when free, null before the first read). */
  currentHolder(): string | null {
    return this.observed ? this.observed.record.holderIdentity : null;
  }

  /** Starts trying to acquire, then renewing; returns at once. */
  start(handlers: LeadershipHandlers): void {
    if (this.running) return;
    this.running = true;
    this.handlers = handlers;
    this.logger.info(
      {
        lease: this.store.description,
        identity: this.identity,
        leaseDurationMs: this.leaseDurationMs,
        renewDeadlineMs: this.renewDeadlineMs,
        retryPeriodMs: this.retryPeriodMs,
      },
      "leader election: starting",
    );
    this.tick();
  }

  /**
   * Stops the loop. A leader releases the Lease (holder cleared, duration 1 s) so a follower takes over
   * at its next retry; resolves once the release was written or failed.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    await this.attempt;
    if (!this.leading) return;
    const wasLeader = this.isLeader();
    this.leading = false;
    this.handlers.onStoppedLeading("released");
    if (!wasLeader || !this.observed || this.observed.record.holderIdentity !== this.identity) return;
    const now = this.now();
    try {
      await this.store.update(
        {
          ...this.observed.record,
          holderIdentity: "",
          leaseDurationSeconds: 1,
          renewTime: now,
        },
        this.observed.resourceVersion,
      );
      this.logger.info(
        { lease: this.store.description, identity: this.identity },
        "leader election: released",
      );
    } catch (err) {
      this.logger.warn(
        { lease: this.store.description, err: (err as Error).message },
        "leader election: release failed; a follower takes over when the lease expires",
      );
    }
  }

  private tick(): void {
    if (!this.running) return;
    this.attempt = this.tryAcquireOrRenew().finally(() => {
      this.attempt = null;
      if (this.running) this.timer = this.timers.setTimeout(() => this.tick(), this.retryPeriodMs);
    });
  }

  /** One attempt; never throws. */
  private async tryAcquireOrRenew(): Promise<void> {
    const sentAt = this.now();
    try {
      const acquiredOrRenewed = await this.attemptOnce(sentAt);
      if (acquiredOrRenewed) {
        this.lastRenewSentAt = sentAt;
        if (!this.leading) {
          this.leading = true;
          this.logger.info(
            { lease: this.store.description, identity: this.identity },
            "leader election: leading",
          );
          this.handlers.onStartedLeading();
        }
      }
    } catch (err) {
      this.logger.warn(
        { lease: this.store.description, identity: this.identity, err: (err as Error).message },
        "leader election: cannot read or write the lease",
      );
    }
    this.checkDeadline();
  }

  /** A leader that has not renewed within the deadline stops leading, whatever the loop is doing. */
  private checkDeadline(): void {
    if (this.leading && !this.isLeader()) {
      this.leading = false;
      this.logger.error(
        { lease: this.store.description, identity: this.identity, renewDeadlineMs: this.renewDeadlineMs },
        "leader election: lost the lease (no renew within the deadline)",
      );
      this.handlers.onStoppedLeading("lost");
    }
  }

  private async attemptOnce(now: number): Promise<boolean> {
    const current = await this.store.get();
    const mine = (renew: LeaseRecord): LeaseRecord => ({
      ...renew,
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      renewTime: now,
    });
    if (current === null) {
      this.observe(
        await this.store.create(
          mine({
            holderIdentity: "",
            leaseDurationSeconds: 0,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: 0,
          }),
        ),
      );
      return true;
    }
    this.observe(current);
    const { record } = current;
    const heldByOther = record.holderIdentity !== "" && record.holderIdentity !== this.identity;
    if (heldByOther) {
      const expiresAt = this.observedAt + record.leaseDurationSeconds * 1000;
      if (this.lastHolderLogged !== record.holderIdentity) {
        this.lastHolderLogged = record.holderIdentity;
        this.logger.info(
          { lease: this.store.description, holder: record.holderIdentity, identity: this.identity },
          "leader election: following",
        );
      }
      if (now < expiresAt) {
        // Someone else holds an unexpired lease: whatever we believed, we are not the leader.
        if (this.leading) {
          this.leading = false;
          this.handlers.onStoppedLeading("lost");
        }
        return false;
      }
    }
    const next: LeaseRecord =
      record.holderIdentity === this.identity
        ? mine(record)
        : mine({ ...record, acquireTime: now, leaseTransitions: record.leaseTransitions + 1 });
    this.observe(await this.store.update(next, current.resourceVersion));
    return true;
  }

  private observe(lease: StoredLease): void {
    const before = this.observed?.record;
    const after = lease.record;
    if (!before || before.holderIdentity !== after.holderIdentity || before.renewTime !== after.renewTime) {
      this.observedAt = this.now();
    }
    this.observed = lease;
  }
}
