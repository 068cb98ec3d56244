// A list+watch loop that keeps nothing itself: every object goes to a sink that stores only what it
// needs (client-node's makeInformer keeps every full object in its own cache). Paginated LIST, then WATCH
// with bookmarks from the list's resourceVersion; a watch that ends is resumed from the last version seen;
// 410 Gone (too old a version) relists; any other failure retries with exponential backoff.
import type { Logger } from "pino";
import { networkDetail } from "./client.js";
import type { CachedKind, ListWatchSource, RawObject, WatchEventType, WatchStream } from "./listwatch.js";
import { KubeError } from "./types.js";

/** Backoff between failed attempts; the same bounds the reconciler's watches always used (client.ts). */
export const INFORMER_BACKOFF_MIN_MS = 1_000;
export const INFORMER_BACKOFF_MAX_MS = 60_000;
/** How long a "kind not installed" (404) answer is trusted before asking again: KEDA's CRD may come later. */
export const ABSENT_RETRY_MS = 5 * 60_000;

export interface InformerSink {
  /** A full LIST begins (first sync or relist): every object follows through `listed`, then `endList`. */
  beginList(): void;
  listed(object: RawObject): void;
  /**
   * The LIST ended at `resourceVersion`. `complete`: every object was listed, so those not listed are gone;
   * false when the sink wanted no items and only the version was fetched.
   */
  endList(resourceVersion: string, complete: boolean): void;
  /** False when the sink would keep none of the items (nothing tracked): the LIST then fetches one object. */
  wantsItems?(): boolean;
  added(object: RawObject): void;
  modified(object: RawObject): void;
  deleted(object: RawObject): void;
  /** The kind does not exist on this cluster (404 on LIST): the sink holds none of it. */
  absent?(): void;
}

export interface InformerOptions {
  kind: CachedKind;
  source: ListWatchSource;
  sink: InformerSink;
  logger: Logger;
  /** Objects per LIST page: bounds the memory a LIST of a large cluster takes at once. */
  pageSize?: number;
  /** A kind that may not be installed (a CRD): a 404 counts as synced and empty, asked again later. */
  optional?: boolean;
  /**
   * A kind the identity may not be allowed to list (403): counts as synced but `absent`, asked again later,
   * so the cache's owner can fall back to reading it another way (an older RBAC without list/watch).
   */
  forbiddenIsAbsent?: boolean;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  absentRetryMs?: number;
  /** Server-side watch timeout; randomised in [t, 2t) like client-go so watches do not restart together. */
  watchTimeoutSeconds?: number;
}

/** How a watch ended; `events`: how many events and bookmarks it delivered first. */
type WatchEnd =
  | { kind: "closed"; events: number }
  | { kind: "expired" }
  | { kind: "error"; err: unknown; events: number };

const statusCode = (err: unknown): number | undefined => {
  if (err instanceof KubeError) return err.code;
  const code = (err as { statusCode?: unknown; code?: unknown } | null)?.statusCode;
  return typeof code === "number" ? code : undefined;
};

export class Informer {
  readonly synced: Promise<void>;
  /** False while the informer is failing and retrying: its sink may be stale, so reads go to the API. */
  healthy = false;
  /** Number of LISTs started (first sync and relists), for tests and logs. */
  lists = 0;
  private markSynced: () => void = () => {};
  private resourceVersion: string | null = null;
  private stopped = false;
  private stream: WatchStream | null = null;
  private sleepTimer: NodeJS.Timeout | null = null;
  private wake: (() => void) | null = null;
  private loopDone: Promise<void> = Promise.resolve();
  /** The last LIST answered 404 (optional kind) or 403 (forbiddenIsAbsent): the sink holds nothing. */
  absent = false;
  private readonly o: Required<Omit<InformerOptions, "optional" | "forbiddenIsAbsent">> & {
    optional: boolean;
    forbiddenIsAbsent: boolean;
  };

  constructor(options: InformerOptions) {
    this.o = {
      pageSize: 500,
      optional: false,
      forbiddenIsAbsent: false,
      backoffMinMs: INFORMER_BACKOFF_MIN_MS,
      backoffMaxMs: INFORMER_BACKOFF_MAX_MS,
      absentRetryMs: ABSENT_RETRY_MS,
      watchTimeoutSeconds: 300,
      ...options,
    };
    this.synced = new Promise((resolve) => {
      this.markSynced = resolve;
    });
  }

  get kind(): CachedKind {
    return this.o.kind;
  }

  start(): void {
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.healthy = false;
    this.stream?.stop();
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.wake?.();
    await this.loopDone;
  }

  /**
   * 410 Gone (the version is too old): LIST again. Right after a fresh LIST (an API server whose watch cache
   * is still starting after a restart answers that way for a while) back off first, or LIST and WATCH
   * would spin. Returns the next backoff.
   */
  private async relistAfterGone(listedNow: boolean, backoffMs: number): Promise<number> {
    this.resourceVersion = null;
    if (!listedNow) return backoffMs;
    await this.sleep(backoffMs);
    return Math.min(backoffMs * 2, this.o.backoffMaxMs);
  }

  private async loop(): Promise<void> {
    let backoffMs = this.o.backoffMinMs;
    while (!this.stopped) {
      let failure: unknown = null;
      let listedNow = false;
      try {
        if (this.resourceVersion === null) {
          listedNow = true;
          const listed = await this.relist();
          if (listed === "absent") {
            this.healthy = true;
            this.markSynced();
            await this.sleep(this.o.absentRetryMs);
            continue;
          }
        }
        this.healthy = true;
        this.markSynced();
        const end = await this.watchOnce();
        if (end.kind === "expired") {
          this.o.logger.info({ informer: this.o.kind }, "watch expired (410); relisting");
          backoffMs = await this.relistAfterGone(listedNow, backoffMs);
          continue;
        }
        // A watch that delivered anything worked: whatever ended it, the next wait starts from the first step.
        if (end.events > 0) backoffMs = this.o.backoffMinMs;
        if (end.kind === "error") failure = end.err;
        else if (end.kind === "closed" && end.events === 0) {
          // Closed at once without a single event or bookmark: do not spin on a server that does that.
          await this.sleep(Math.min(backoffMs, this.o.backoffMinMs));
        }
      } catch (err) {
        failure = err;
      }
      if (failure === null || this.stopped) continue;
      if (statusCode(failure) === 410) {
        backoffMs = await this.relistAfterGone(listedNow, backoffMs);
        continue;
      }
      this.healthy = false;
      // A LIST the client gave up on after 429s: never sooner than the server's Retry-After.
      const retryAfterMs = failure instanceof KubeError ? (failure.retryAfterMs ?? 0) : 0;
      const waitMs = Math.max(backoffMs, retryAfterMs);
      this.o.logger.warn(
        {
          informer: this.o.kind,
          code: statusCode(failure),
          err: networkDetail(failure),
          retryInMs: waitMs,
        },
        "informer stopped; restarting",
      );
      await this.sleep(waitMs);
      backoffMs = Math.min(backoffMs * 2, this.o.backoffMaxMs);
    }
  }

  /** A paginated LIST into the sink; "absent" when an optional kind is not installed. */
  private async relist(): Promise<"listed" | "absent"> {
    this.lists++;
    let cont: string | undefined;
    let began = false;
    let resourceVersion = "";
    // Nothing would be kept: one object is enough to learn the version to watch from.
    const versionOnly = this.o.sink.wantsItems?.() === false;
    do {
      let page: Awaited<ReturnType<ListWatchSource["list"]>>;
      try {
        page = await this.o.source.list(this.o.kind, {
          limit: versionOnly ? 1 : this.o.pageSize,
          ...(cont ? { continue: cont } : {}),
        });
      } catch (err) {
        const code = statusCode(err);
        if ((this.o.optional && code === 404) || (this.o.forbiddenIsAbsent && code === 403)) {
          if (!this.absent && code === 403)
            this.o.logger.warn(
              { informer: this.o.kind, retryInMs: this.o.absentRetryMs },
              "not allowed to list; reading these objects one by one instead (see deploy/base/rbac.yaml)",
            );
          this.absent = true;
          this.o.sink.absent?.();
          this.resourceVersion = null;
          return "absent";
        }
        // 410 on a continue token: the snapshot expired mid-list; the loop starts the list over.
        throw err;
      }
      if (this.stopped) return "listed";
      this.absent = false;
      if (!began) {
        this.o.sink.beginList();
        began = true;
      }
      for (const item of page.items) this.o.sink.listed(item);
      // The first page's version is the snapshot's; later pages carry the same one.
      if (!resourceVersion) resourceVersion = page.resourceVersion;
      cont = versionOnly ? undefined : page.continue;
    } while (cont);
    this.o.sink.endList(resourceVersion, !versionOnly);
    this.resourceVersion = resourceVersion;
    return "listed";
  }

  private watchOnce(): Promise<WatchEnd> {
    return new Promise<WatchEnd>((resolve) => {
      let events = 0;
      let ended = false;
      const end = (result: WatchEnd) => {
        if (ended) return;
        ended = true;
        this.stream?.stop();
        this.stream = null;
        this.wake = null;
        resolve(result);
      };
      this.wake = () => end({ kind: "closed", events });
      const onEvent = (type: WatchEventType, object: RawObject) => {
        if (ended) return;
        if (type === "ERROR") {
          const code = (object as { code?: unknown }).code;
          end(
            code === 410
              ? { kind: "expired" }
              : {
                  kind: "error",
                  err: new KubeError(
                    "watch",
                    `${this.o.kind}s`,
                    code as number | undefined,
                    String(object.message),
                  ),
                  events,
                },
          );
          return;
        }
        events++;
        const version = object.metadata?.resourceVersion;
        if (type === "ADDED") this.o.sink.added(object);
        else if (type === "MODIFIED") this.o.sink.modified(object);
        else if (type === "DELETED") this.o.sink.deleted(object);
        if (version) this.resourceVersion = version;
      };
      const timeout = this.o.watchTimeoutSeconds;
      this.o.source
        .watch(
          this.o.kind,
          {
            resourceVersion: this.resourceVersion ?? "",
            timeoutSeconds: timeout + Math.floor(Math.random() * timeout),
          },
          onEvent,
          (err) => end(err ? { kind: "error", err, events } : { kind: "closed", events }),
        )
        .then(
          (stream) => {
            if (ended || this.stopped) stream.stop();
            else this.stream = stream;
          },
          (err: unknown) => end({ kind: "error", err, events }),
        );
    });
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      this.wake = () => {
        this.wake = null;
        if (this.sleepTimer) clearTimeout(this.sleepTimer);
        this.sleepTimer = null;
        resolve();
      };
      this.sleepTimer = setTimeout(() => this.wake?.(), ms);
      this.sleepTimer.unref?.();
    });
  }
}
