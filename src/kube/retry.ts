// When an API request is repeated, and after how long. No I/O here: client.ts (and listwatch.ts for its
// LISTs) run every request through `retrying`, and tests pass their own `sleep` so nothing waits real time.
//
// What is repeated:
// - 429 Too Many Requests, for every request: the API server (max-in-flight, API Priority and Fairness)
//   answers it before the request is processed, so repeating it cannot apply anything twice;
// - 5xx and failures without an HTTP answer (connection reset, timeout, a body cut short) for reads only
//   (GET, LIST). A write that failed this way may have been applied: the reconciler's next pass reads the
//   object again and decides afresh, which test/reconciler/faults.test.ts shows converges;
// - nothing else: a 409 means the object changed and must be read again, other 4xx will not get better.
import { AsyncLocalStorage } from "node:async_hooks";
import type { Logger } from "pino";
import { KubeError } from "./types.js";

/** The longest Retry-After honoured; a server asking for more is told no sooner than this. */
export const RETRY_AFTER_MAX_MS = 60_000;

export type RequestSafety = "read" | "write";

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** The sum of the waits between attempts never exceeds this; a Retry-After beyond it ends the retries. */
  maxTotalWaitMs: number;
  /** First backoff without Retry-After; doubled per retry, up to `backoffMaxMs`, each with jitter. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  sleep: (ms: number) => Promise<void>;
  /** In [0, 1): the jitter. */
  random: () => number;
  /** For an HTTP-date Retry-After. */
  now: () => number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 4,
  maxTotalWaitMs: 30_000,
  backoffBaseMs: 500,
  backoffMaxMs: 8_000,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
  now: Date.now,
};

/**
 * A Retry-After header in milliseconds: delay-seconds (`2`) or an HTTP-date, clamped to
 * [0, RETRY_AFTER_MAX_MS]; undefined when absent or malformed.
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, RETRY_AFTER_MAX_MS);
  // IMF-fixdate, RFC 850 and asctime all begin with the day's name; Date.parse alone accepts "1.5".
  if (!/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? /.test(text)) return undefined;
  const at = Date.parse(text);
  if (!Number.isFinite(at)) return undefined;
  return Math.min(Math.max(at - now, 0), RETRY_AFTER_MAX_MS);
}

/** Whether `err` is worth another attempt of a request of this safety (see the top of this file). */
export function isRetryable(err: KubeError, safety: RequestSafety): boolean {
  if (err.code === 429) return true;
  if (safety === "write") return false;
  return err.code === undefined || err.code >= 500;
}

/** The wait before retry number `retry` (1 for the first) without Retry-After: exponential, half jittered. */
export function backoffMs(retry: number, policy: RetryPolicy): number {
  const ceiling = Math.min(policy.backoffBaseMs * 2 ** (retry - 1), policy.backoffMaxMs);
  return Math.round(ceiling / 2 + (ceiling / 2) * policy.random());
}

/**
 * Set by the leader fence (src/leader/fence.ts) around a write: checked again before each retry of it, so a
 * replica that lost its lease while waiting out a 429 does not send the write after all.
 */
export const writeGate = new AsyncLocalStorage<() => boolean>();

export interface RetryTarget {
  operation: string;
  object: string;
  safety: RequestSafety;
}

/** Runs `attempt` until it succeeds, fails for good, or the policy's attempts or total wait run out. */
export async function retrying<T>(
  target: RetryTarget,
  attempt: () => Promise<T>,
  policy: RetryPolicy,
  logger?: Logger,
): Promise<T> {
  let waited = 0;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof KubeError) || !isRetryable(err, target.safety) || n >= policy.maxAttempts)
        throw err;
      const gate = target.safety === "write" ? writeGate.getStore() : undefined;
      if (gate && !gate()) throw err;
      const remaining = policy.maxTotalWaitMs - waited;
      let wait: number;
      if (err.retryAfterMs !== undefined) {
        // Never sooner than the server asked; when that is past the budget, give up now rather than later.
        if (err.retryAfterMs > remaining) throw err;
        wait = err.retryAfterMs;
      } else {
        wait = Math.min(backoffMs(n, policy), remaining);
        if (wait <= 0) throw err;
      }
      logger?.warn(
        {
          operation: target.operation,
          object: target.object,
          code: err.code,
          attempt: n,
          maxAttempts: policy.maxAttempts,
          retryInMs: wait,
          ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
          err: err.message,
        },
        "API request failed; retrying",
      );
      await policy.sleep(wait);
      waited += wait;
      if (gate && !gate()) throw err;
    }
  }
}
