// SPEC §3: policy + recorded state + time → awake / asleep / unmanaged, and when that changes.
//
// Choices where SPEC §3 is silent:
// - `sleep-after: 0` is "off": treated as unset, so `idle` falls back to the agent default.
// - Events at the same instant: a recorded manual sleep beats a schedule event; a wake event beats
//   a sleep event (no surprise sleep).
// - A manual sleep recorded after `t` is not an event yet; activity timestamps are used as
//   recorded, even slightly after `t` (another host's clock may run ahead).
// - A schedule with no fire in its lookback (8 years for crons) counts as no schedule event.
// - `next` is searched over HORIZON_MS; a change later than that is reported as null.

import { awakeEdges } from "./awake-hours.js";
import type { CronSchedule } from "./cron.js";
import { cronNextAfter, cronPreviousAtOrBefore } from "./cron.js";
import { formatDuration } from "./duration.js";
import type { Policy } from "./resolve.js";
import type { Decision, DesiredState, RecordedState, SleepReason, Transition, WakeReason } from "./types.js";
import { DAY_MS, formatLocal } from "./zone.js";

/** How far ahead `next` is searched (SPEC §5: at least 8 days). */
export const HORIZON_MS = 8 * DAY_MS;

type EventSource = "awake-hours" | "sleep-schedule" | "wakeup-schedule" | "manual-sleep";

interface ScheduleEvent {
  at: number;
  kind: "wake" | "sleep";
  source: EventSource;
}

const RANK: Record<EventSource, number> = {
  "manual-sleep": 3,
  "wakeup-schedule": 2,
  "awake-hours": 2,
  "sleep-schedule": 1,
};

/** Later wins; at the same instant the higher rank wins (awake-hours edges rank by their kind). */
function later(a: ScheduleEvent | null, b: ScheduleEvent | null): ScheduleEvent | null {
  if (a === null) return b;
  if (b === null) return a;
  if (a.at !== b.at) return a.at > b.at ? a : b;
  const rank = (event: ScheduleEvent) =>
    event.source === "awake-hours" && event.kind === "sleep" ? 1 : RANK[event.source];
  return rank(b) > rank(a) ? b : a;
}

/** All schedule events of one target around one evaluation time. */
class Timeline {
  private readonly windowEdges: ScheduleEvent[];

  constructor(
    private readonly policy: Policy,
    private readonly manualSleep: number | undefined,
    at: number,
    readonly limit: number,
  ) {
    this.windowEdges =
      policy.awakeHours === null
        ? []
        : awakeEdges(policy.awakeHours, policy.timezone, at - HORIZON_MS, limit).map((edge) => ({
            ...edge,
            source: "awake-hours" as const,
          }));
  }

  /** S of SPEC §3: the most recent event at or before `at`. */
  previous(at: number): ScheduleEvent | null {
    let best: ScheduleEvent | null = null;
    for (const edge of this.windowEdges) {
      if (edge.at > at) break;
      best = later(best, edge);
    }
    best = later(best, this.previousCron(this.policy.sleepSchedule, "sleep", at));
    best = later(best, this.previousCron(this.policy.wakeupSchedule, "wake", at));
    if (this.manualSleep !== undefined && this.manualSleep <= at) {
      best = later(best, { at: this.manualSleep, kind: "sleep", source: "manual-sleep" });
    }
    return best;
  }

  private previousCron(cron: CronSchedule | null, kind: "wake" | "sleep", at: number): ScheduleEvent | null {
    if (cron === null) return null;
    const fire = cronPreviousAtOrBefore(cron, this.policy.timezone, at);
    return fire === null
      ? null
      : { at: fire, kind, source: kind === "sleep" ? "sleep-schedule" : "wakeup-schedule" };
  }

  /** Events strictly after `after`, within the limit, in order; ties come out as the winning event. */
  *following(after: number): Generator<ScheduleEvent> {
    let edgeIndex = this.windowEdges.findIndex((edge) => edge.at > after);
    if (edgeIndex < 0) edgeIndex = this.windowEdges.length;
    const nextCron = (cron: CronSchedule | null, from: number) =>
      cron === null ? null : cronNextAfter(cron, this.policy.timezone, from, this.limit);
    let sleepFire = nextCron(this.policy.sleepSchedule, after);
    let wakeFire = nextCron(this.policy.wakeupSchedule, after);
    let manual = this.manualSleep !== undefined && this.manualSleep > after ? this.manualSleep : null;
    for (;;) {
      const edge = this.windowEdges[edgeIndex];
      const at = Math.min(
        edge?.at ?? Infinity,
        sleepFire ?? Infinity,
        wakeFire ?? Infinity,
        manual ?? Infinity,
      );
      if (at === Infinity) return;
      let winner: ScheduleEvent | null = null;
      if (edge !== undefined && edge.at === at) {
        winner = later(winner, edge);
        edgeIndex++;
      }
      if (sleepFire === at) {
        winner = later(winner, { at, kind: "sleep", source: "sleep-schedule" });
        sleepFire = nextCron(this.policy.sleepSchedule, at);
      }
      if (wakeFire === at) {
        winner = later(winner, { at, kind: "wake", source: "wakeup-schedule" });
        wakeFire = nextCron(this.policy.wakeupSchedule, at);
      }
      if (manual === at) {
        winner = later(winner, { at, kind: "sleep", source: "manual-sleep" });
        manual = null;
      }
      yield winner!;
    }
  }
}

/** L of SPEC §3, and which signal it was. */
function lastUse(state: RecordedState): { at: number; what: "last activity" | "deliberate wake" } | null {
  const { lastActivity, lastWake } = state;
  if (lastActivity === undefined && lastWake === undefined) return null;
  if (lastWake !== undefined && (lastActivity === undefined || lastWake > lastActivity)) {
    return { at: lastWake, what: "deliberate wake" };
  }
  return { at: lastActivity!, what: "last activity" };
}

type Branch =
  | { kind: "forced"; state: DesiredState; until: number | null }
  | { kind: "after-sleep-event"; state: DesiredState; event: ScheduleEvent; wokenAfter: boolean }
  | { kind: "after-wake-event"; state: DesiredState; event: ScheduleEvent | null };

/** The rule itself, given S: the hot path of `next`, so it builds no text. */
function evaluate(policy: Policy, use: number | null, at: number, event: ScheduleEvent | null): Branch {
  const force = policy.force;
  if (force !== null && (force.until === null || at < force.until)) {
    return { kind: "forced", state: force.state, until: force.until };
  }
  if (event !== null && event.kind === "sleep") {
    const wokenAfter = use !== null && use > event.at;
    const awake = wokenAfter && at < use! + policy.idleMs;
    return { kind: "after-sleep-event", state: awake ? "awake" : "asleep", event, wokenAfter };
  }
  const since = Math.max(event?.at ?? -Infinity, use ?? -Infinity);
  const asleep = policy.sleepAfterMs !== null && at >= since + policy.sleepAfterMs;
  return { kind: "after-wake-event", state: asleep ? "asleep" : "awake", event };
}

/** Instants after which `evaluate` may change while S stays the same. */
function thresholds(policy: Policy, use: number | null, event: ScheduleEvent | null): number[] {
  const candidates: number[] = [];
  if (policy.force?.until != null) candidates.push(policy.force.until);
  if (use !== null) candidates.push(use + policy.idleMs);
  if (policy.sleepAfterMs !== null) {
    const since = Math.max(event?.at ?? -Infinity, use ?? -Infinity);
    if (since > -Infinity) candidates.push(since + policy.sleepAfterMs);
  }
  return candidates;
}

function nextTransition(
  policy: Policy,
  use: number | null,
  timeline: Timeline,
  at: number,
  event: ScheduleEvent | null,
  current: DesiredState,
): Transition | null {
  const events = timeline.following(at);
  let pending = events.next();
  let cursor = at;
  let inEffect = event;
  for (;;) {
    const eventAt = pending.done ? Infinity : pending.value.at;
    const candidate = Math.min(eventAt, ...thresholds(policy, use, inEffect).filter((time) => time > cursor));
    if (candidate > timeline.limit) return null;
    if (candidate === eventAt && !pending.done) {
      inEffect = pending.value;
      pending = events.next();
    }
    const state = evaluate(policy, use, candidate, inEffect).state;
    if (state !== current) return { state, at: candidate };
    cursor = candidate;
  }
}

const describeEvent = (event: ScheduleEvent, policy: Policy, local: (at: number) => string): string => {
  switch (event.source) {
    case "awake-hours":
      return event.kind === "wake"
        ? `awake-hours began at ${local(event.at)}`
        : `awake-hours ended at ${local(event.at)}`;
    case "sleep-schedule":
      return `sleep-schedule "${policy.sleepSchedule?.expression}" fired at ${local(event.at)}`;
    case "wakeup-schedule":
      return `wakeup-schedule "${policy.wakeupSchedule?.expression}" fired at ${local(event.at)}`;
    case "manual-sleep":
      return `put to sleep by hand (slumber.dev/manual-sleep) at ${local(event.at)}`;
  }
};

function describe(
  branch: Branch,
  policy: Policy,
  use: ReturnType<typeof lastUse>,
): { reason: string; sleepReason: SleepReason; wakeReason: WakeReason } {
  // Spans may carry their own zone; crons always use the target's. Every time shows its offset anyway.
  const hasCron = policy.sleepSchedule !== null || policy.wakeupSchedule !== null;
  const zone = hasCron ? policy.timezone : (policy.awakeHours?.[0]?.zone ?? policy.timezone);
  const local = (at: number) => formatLocal(at, zone);
  const useText = use === null ? "" : `${use.what} at ${local(use.at)}`;
  const byUse: WakeReason = use?.what === "deliberate wake" ? "manual" : "activity";
  switch (branch.kind) {
    case "forced": {
      const until =
        branch.until === null ? "until slumber.dev/force is removed" : `until ${local(branch.until)}`;
      return {
        reason: `forced ${branch.state} by slumber.dev/force ${until}`,
        sleepReason: "forced",
        wakeReason: "forced",
      };
    }
    case "after-sleep-event": {
      const event = describeEvent(branch.event, policy, local);
      if (branch.state === "awake") {
        return {
          reason: `${useText} after ${event}; awake until ${local(use!.at + policy.idleMs)} (idle ${formatDuration(policy.idleMs)})`,
          sleepReason: "inactivity",
          wakeReason: byUse,
        };
      }
      if (branch.wokenAfter) {
        return {
          reason: `idle for ${formatDuration(policy.idleMs)} since ${useText} (after ${event})`,
          sleepReason: "inactivity",
          wakeReason: byUse,
        };
      }
      const outside =
        branch.event.source === "awake-hours" ? `outside awake-hours since ${local(branch.event.at)}` : event;
      const before = use === null ? "no recorded use" : `no use since (${useText})`;
      return {
        reason: `${outside}; ${before}`,
        sleepReason: branch.event.source === "manual-sleep" ? "manual" : "schedule",
        wakeReason: "schedule",
      };
    }
    case "after-wake-event": {
      const event =
        branch.event === null
          ? "no schedule"
          : branch.event.source === "awake-hours"
            ? `inside awake-hours since ${local(branch.event.at)}`
            : describeEvent(branch.event, policy, local);
      const sleepAfter = policy.sleepAfterMs;
      const usedSince = use !== null && (branch.event === null || use.at > branch.event.at);
      const wakeReason: WakeReason = usedSince ? byUse : "schedule";
      if (branch.state === "asleep") {
        const since = usedSince
          ? `since ${useText}`
          : branch.event === null
            ? "with no recorded use"
            : `since ${event}`;
        return {
          reason: `idle for ${formatDuration(sleepAfter!)} (sleep-after) ${since}`,
          sleepReason: "inactivity",
          wakeReason,
        };
      }
      if (sleepAfter === null)
        return { reason: `${event}; no sleep-after set`, sleepReason: "inactivity", wakeReason };
      const since = usedSince ? use!.at : branch.event!.at;
      return {
        reason: `${event}${usedSince ? `; ${useText}` : ""}; sleeps after ${formatDuration(sleepAfter)} idle, at ${local(since + sleepAfter)}`,
        sleepReason: "inactivity",
        wakeReason,
      };
    }
  }
}

/** SPEC §3 at instant `at`, with the next change if no new activity arrives. */
export function decide(policy: Policy, state: RecordedState, at: number): Decision {
  if (!policy.managed) return { state: "unmanaged", reason: policy.managedReason, next: null };
  const use = lastUse(state);
  const useAt = use?.at ?? null;
  const timeline = new Timeline(policy, state.manualSleep, at, at + HORIZON_MS);
  const event = timeline.previous(at);
  const branch = evaluate(policy, useAt, at, event);
  const next = nextTransition(policy, useAt, timeline, at, event, branch.state);
  const { reason, sleepReason, wakeReason } = describe(branch, policy, use);
  return branch.state === "asleep"
    ? { state: "asleep", reason, sleepReason, next }
    : { state: "awake", reason, wakeReason, next };
}
