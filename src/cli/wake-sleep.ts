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
  /** The target's current view: observed state, policy's wish, reason, policy errors; null when it is no target. */
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
    if (view === null || view.state === "unmanaged") {
      if (want === "awake" && sawReleasedAsleep) {
        progress(
          `${verb}: ${describeTarget(ref)} is awake and no longer managed by Slumber (after ${seconds(waited)})`,
        );
        return ExitCode.ok;
      }
      if (view === null)
        throw new CliError(`${describeTarget(ref)} is not a Slumber target`, ExitCode.failure);
    }
    // Asleep but no longer managed (and no policy error): the agent is about to wake it.
    const released =
      view.state === "asleep" && view.desired === "unmanaged" && view.policyErrors.length === 0;
    if (view.state === want && !released) {
      progress(`${verb}: ${describeTarget(ref)} is ${want} (after ${seconds(waited)})`);
      return ExitCode.ok;
    }
    if (view.policyErrors.length > 0) {
      const errors = view.policyErrors.map((e) => `${e.key}="${e.value}": ${e.message}`).join("; ");
      throw new CliError(
        `${describeTarget(ref)} is left as it is because of policy errors: ${errors}`,
        ExitCode.failure,
      );
    }
    if (want === "awake" && released) {
      sawReleasedAsleep = true;
    } else if (view.desired === "unmanaged" || view.state === "unmanaged") {
      throw new CliError(
        `${describeTarget(ref)} is not managed by Slumber: ${view.reason}`,
        ExitCode.failure,
      );
    } else if (view.desired !== want) {
      throw new CliError(`${describeTarget(ref)} stays ${view.desired}: ${view.reason}`, ExitCode.failure);
    }
    if (waited >= timeoutMs) {
      throw new CliError(
        `${describeTarget(ref)} is still ${view.state} after ${seconds(waited)} (${view.reason}); ` +
          "is `slumber run` running against this cluster?",
        ExitCode.timeout,
      );
    }
    const line = `${verb}: ${describeTarget(ref)} is ${view.state}, becoming ${want} (${view.reason})`;
    if (line !== lastLine || now - lastLineAt >= progressEveryMs) {
      progress(`${line} [${seconds(waited)}]`);
      lastLine = line;
      lastLineAt = now;
    }
    await env.delay(Math.min(pollMs, Math.max(0, timeoutMs - waited)));
  }
}
