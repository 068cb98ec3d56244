import type { Clock } from "../clock.js";
import { formatDuration } from "../policy/duration.js";
import type { DesiredState } from "../policy/types.js";
import type { TargetRef, TargetView } from "../targets/types.js";
import { CliError, ExitCode } from "./errors.js";

/** What `slumber wake|sleep` needs from the cluster; main.ts wires the real implementations. */
export interface WakeSleepActions {
  /** `NS/NAME` → the virtual cluster or namespace target it names; throws when there is none. */
  resolve(namespace: string, name: string): Promise<TargetRef>;
  /** Records the wake or sleep request (or `force`/`force-until` when `forMs` is given). */
  request(ref: TargetRef, now: number, forMs: number | undefined): Promise<void>;
  /** The target's current view: observed state, policy's wish, reason, policy errors. */
  inspect(ref: TargetRef, now: number): Promise<TargetView | null>;
}

export interface WakeSleepOptions {
  want: DesiredState;
  /** `NS/NAME` as typed. */
  target: string;
  forMs?: number;
  timeoutMs: number;
  /** How often to look at the target. */
  pollMs?: number;
  /** How often to repeat an unchanged progress line. */
  progressEveryMs?: number;
}

export interface WakeSleepEnv {
  actions: WakeSleepActions;
  clock: Clock;
  delay: (ms: number) => Promise<void>;
  /** Progress lines (stderr). */
  progress: (line: string) => void;
}

// Kubernetes object names: DNS labels/subdomains, lower case.
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Parses `NS/NAME`; a malformed argument is a usage error (exit 2). */
export function parseTargetArgument(text: string): { namespace: string; name: string } {
  const parts = text.split("/");
  if (parts.length !== 2 || !OBJECT_NAME.test(parts[0]!) || !OBJECT_NAME.test(parts[1]!)) {
    throw new CliError(
      `"${text}" is not NAMESPACE/NAME (a virtual cluster's host namespace and name, or NS/NS for a namespace target)`,
      ExitCode.usage,
    );
  }
  return { namespace: parts[0]!, name: parts[1]! };
}

const describeTarget = (ref: TargetRef): string =>
  ref.kind === "vcluster" ? `virtual cluster ${ref.namespace}/${ref.name}` : `namespace ${ref.name}`;

const seconds = (ms: number): string => `${Math.round(ms / 1000)}s`;

/**
 * Records a wake or sleep of one target, then waits until it has reached that state, printing progress.
 * Resolves to the exit code; throws CliError when the target cannot reach the state (refused by policy,
 * policy errors, timeout).
 */
export async function wakeOrSleep(options: WakeSleepOptions, env: WakeSleepEnv): Promise<ExitCode> {
  const { want, timeoutMs } = options;
  const pollMs = options.pollMs ?? 1_000;
  const progressEveryMs = options.progressEveryMs ?? 10_000;
  const { actions, clock, progress } = env;
  const verb = want === "awake" ? "wake" : "sleep";

  const { namespace, name } = parseTargetArgument(options.target);
  const ref = await actions.resolve(namespace, name);
  const startedAt = clock.now();
  await actions.request(ref, startedAt, options.forMs);
  const recorded =
    options.forMs === undefined
      ? want === "awake"
        ? "recorded slumber.dev/last-wake"
        : "recorded slumber.dev/manual-sleep"
      : `forced ${want} for ${formatDuration(options.forMs)}`;
  progress(
    `${verb}: ${describeTarget(ref)}: ${recorded}; waiting up to ${seconds(timeoutMs)} for it to be ${want}`,
  );

  let lastLine = "";
  let lastLineAt = 0;
  // A target Slumber put to sleep that has left the managed set (opted out, namespace excluded, now hosting a
  // virtual cluster) is woken by the agent before it is let go: a wake waits for that, then it is no target.
  let sawReleasedAsleep = false;
  for (;;) {
    const now = clock.now();
    const view = await actions.inspect(ref, now);
    const waited = now - startedAt;
    const verdict = judge(ref, view, want, sawReleasedAsleep);
    if (verdict.kind === "reached") {
      progress(`${verb}: ${describeTarget(ref)} is ${verdict.state ?? want} (after ${seconds(waited)})`);
      return ExitCode.ok;
    }
    if (verdict.kind === "refused") throw new CliError(verdict.message, ExitCode.failure);
    sawReleasedAsleep ||= verdict.released;
    if (waited >= timeoutMs) {
      throw new CliError(
        `${describeTarget(ref)} is still ${verdict.view.state} after ${seconds(waited)} (${verdict.view.reason}); ` +
          "is `slumber run` running against this cluster?",
        ExitCode.timeout,
      );
    }
    const line = `${verb}: ${describeTarget(ref)} is ${verdict.view.state}, becoming ${want} (${verdict.view.reason})`;
    if (line !== lastLine || now - lastLineAt >= progressEveryMs) {
      progress(`${line} [${seconds(waited)}]`);
      lastLine = line;
      lastLineAt = now;
    }
    await env.delay(Math.min(pollMs, Math.max(0, timeoutMs - waited)));
  }
}

type Verdict =
  | { kind: "reached"; state?: string }
  | { kind: "waiting"; view: TargetView; released: boolean }
  | { kind: "refused"; message: string };

/**
 * Whether a target has reached `want`, is on its way, or will not get there (and why). `sawReleasedAsleep`: an
 * earlier look found it asleep and leaving the managed set, so no longer being a target means it was woken.
 */
function judge(
  ref: TargetRef,
  view: TargetView | null,
  want: DesiredState,
  sawReleasedAsleep: boolean,
): Verdict {
  if (view === null || view.state === "unmanaged") {
    if (want === "awake" && sawReleasedAsleep)
      return { kind: "reached", state: "awake and no longer managed by Slumber" };
    if (view === null) return { kind: "refused", message: `${describeTarget(ref)} is not a Slumber target` };
  }
  // Asleep but no longer managed (and no policy error): the agent is about to wake it.
  const released = view.state === "asleep" && view.desired === "unmanaged" && view.policyErrors.length === 0;
  if (view.state === want && !released) return { kind: "reached" };
  if (view.policyErrors.length > 0) {
    const errors = view.policyErrors.map((e) => `${e.key}="${e.value}": ${e.message}`).join("; ");
    return {
      kind: "refused",
      message: `${describeTarget(ref)} is left as it is because of policy errors: ${errors}`,
    };
  }
  if (want === "awake" && released) return { kind: "waiting", view, released };
  if (view.desired === "unmanaged" || view.state === "unmanaged")
    return { kind: "refused", message: `${describeTarget(ref)} is not managed by Slumber: ${view.reason}` };
  if (view.desired !== want)
    return { kind: "refused", message: `${describeTarget(ref)} stays ${view.desired}: ${view.reason}` };
  return { kind: "waiting", view, released: false };
}

export interface WakeAllActions {
  /** Every target's current view (what `slumber status` lists). */
  list(now: number): Promise<TargetView[]>;
  request(ref: TargetRef, now: number, forMs: number | undefined): Promise<void>;
  inspect(ref: TargetRef, now: number): Promise<TargetView | null>;
}

/**
 * `slumber wake --all`: records a deliberate wake (or with `forMs` a forced wake) on every managed target,
 * then waits until all are awake. Every target is tried; the failures are listed together at the end.
 * Used before uninstalling, so no cluster is left asleep with nothing to wake it.
 */
export async function wakeAll(
  options: { forMs?: number; timeoutMs: number; pollMs?: number },
  env: Omit<WakeSleepEnv, "actions"> & { actions: WakeAllActions },
): Promise<ExitCode> {
  const { actions, clock, progress } = env;
  const pollMs = options.pollMs ?? 1_000;
  const startedAt = clock.now();
  const managed = (await actions.list(startedAt)).filter((v) => v.state !== "unmanaged");
  if (managed.length === 0) {
    progress("wake --all: no managed targets");
    return ExitCode.ok;
  }
  const failures = new Map<string, string>();
  const waiting = new Map<string, TargetRef>();
  const released = new Set<string>();
  for (const view of managed) {
    const ref: TargetRef = { kind: view.kind, namespace: view.namespace, name: view.name };
    try {
      await actions.request(ref, clock.now(), options.forMs);
      waiting.set(describeTarget(ref), ref);
    } catch (error) {
      failures.set(describeTarget(ref), `cannot record the wake: ${(error as Error).message}`);
    }
  }
  const recorded =
    options.forMs === undefined
      ? "recorded slumber.dev/last-wake"
      : `forced awake for ${formatDuration(options.forMs)}`;
  progress(
    `wake --all: ${recorded} on ${waiting.size} of ${managed.length} managed targets; waiting up to ${seconds(options.timeoutMs)}`,
  );
  for (;;) {
    const now = clock.now();
    for (const [name, ref] of waiting) {
      let verdict: Verdict;
      try {
        verdict = judge(ref, await actions.inspect(ref, now), "awake", released.has(name));
      } catch (error) {
        verdict = { kind: "refused", message: `${name}: ${(error as Error).message}` };
      }
      if (verdict.kind === "waiting") {
        if (verdict.released) released.add(name);
        continue;
      }
      waiting.delete(name);
      if (verdict.kind === "reached")
        progress(`wake --all: ${name} is awake (after ${seconds(now - startedAt)})`);
      else failures.set(name, verdict.message);
    }
    const waited = now - startedAt;
    if (waiting.size === 0 || waited >= options.timeoutMs) break;
    await env.delay(Math.min(pollMs, Math.max(0, options.timeoutMs - waited)));
  }
  const awake = managed.length - failures.size - waiting.size;
  if (failures.size === 0 && waiting.size === 0) {
    progress(`wake --all: all ${awake} managed targets are awake`);
    return ExitCode.ok;
  }
  const lines = [
    ...[...failures.values()],
    ...[...waiting.keys()].map((name) => `${name} is still not awake after ${seconds(options.timeoutMs)}`),
  ];
  throw new CliError(
    `wake --all: ${awake} of ${managed.length} managed targets awake; not awake:\n  ${lines.join("\n  ")}` +
      (failures.size > 0 ? "\n(`slumber status` shows every target and its reason)" : ""),
    waiting.size > 0 && failures.size === 0 ? ExitCode.timeout : ExitCode.failure,
  );
}
