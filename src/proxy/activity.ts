// Which requests count as use of a virtual cluster (SPEC §7 "Activity"), and how often the proxy tells
// the reconciler about it. Pure apart from the clock passed in.
import { userAgentIgnored } from "../policy/values.js";
import { pathOnly } from "./route.js";

/** Probes and health checks: never activity, never a reason to wake. */
const HEALTH_PATHS = ["/healthz", "/livez", "/readyz"];

export const IGNORE_HEADER = "x-sleep-mode-ignore";

/** Why a request does not count, or null when it does. */
export function ignoredBecause(
  upstreamPath: string,
  headers: { userAgent: string | undefined; ignoreHeader: string | string[] | undefined },
  ignoreUserAgents: readonly string[],
): string | null {
  const path = pathOnly(upstreamPath);
  if (HEALTH_PATHS.some((health) => path === health || path.startsWith(`${health}/`)))
    return `health check ${path}`;
  const flag = Array.isArray(headers.ignoreHeader) ? headers.ignoreHeader[0] : headers.ignoreHeader;
  if (flag !== undefined && flag.trim().toLowerCase() === "true") return "X-Sleep-Mode-Ignore: true";
  if (headers.userAgent !== undefined && userAgentIgnored(ignoreUserAgents, headers.userAgent))
    return "ignored user agent";
  return null;
}

/** `watch=true`/`watch=1`/`follow=true` on a GET: counts when it opens, not while it stays open. */
export function isWatch(upstreamPath: string): boolean {
  const queryAt = upstreamPath.indexOf("?");
  if (queryAt === -1) return pathOnly(upstreamPath).includes("/watch/");
  const params = new URLSearchParams(upstreamPath.slice(queryAt + 1));
  const on = (key: string) => {
    const value = params.get(key);
    return value === "true" || value === "1";
  };
  return on("watch") || on("follow") || pathOnly(upstreamPath).includes("/watch/");
}

/** At most one report per cluster per interval: the reconciler writes `last-activity` at most once a minute. */
export class ActivityThrottle {
  private readonly lastReported = new Map<string, number>();
  constructor(private readonly intervalMs: number) {}

  /** True when `key`'s activity at `now` should be reported. */
  take(key: string, now: number): boolean {
    const last = this.lastReported.get(key);
    if (last !== undefined && now - last < this.intervalMs && now >= last) return false;
    this.lastReported.set(key, now);
    return true;
  }

  forget(key: string): void {
    this.lastReported.delete(key);
  }

  /** Clusters with a report on record, for tests. */
  get size(): number {
    return this.lastReported.size;
  }
}

/** Re-records activity while an exec, attach or port-forward session stays open. */
export class SessionActivity {
  constructor(
    private readonly record: () => void,
    private readonly timers: {
      setTimeout(fn: () => void, ms: number): unknown;
      clearTimeout(handle: unknown): void;
    },
    private readonly intervalMs: number,
  ) {}

  /** Starts counting; the returned function stops it (the session closed). */
  open(): () => void {
    let handle: unknown = null;
    let open = true;
    const tick = () => {
      if (!open) return;
      this.record();
      handle = this.timers.setTimeout(tick, this.intervalMs);
    };
    handle = this.timers.setTimeout(tick, this.intervalMs);
    return () => {
      open = false;
      if (handle !== null) this.timers.clearTimeout(handle);
    };
  }
}
