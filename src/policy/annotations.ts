// Every annotation key in SPEC §2–§4, in one place so no module spells one by hand.

export const SLUMBER_PREFIX = "slumber.dev/";
export const LOFT_SLEEPMODE_PREFIX = "sleepmode.loft.sh/";

/** SPEC §2: policy annotations (also accepted without prefix under the config file's `defaults:`). */
export const POLICY_KEYS = [
  "enabled",
  "exclude",
  "sleep-after",
  "awake-hours",
  "sleep-schedule",
  "wakeup-schedule",
  "timezone",
  "force",
  "force-until",
  "ignore-user-agents",
  "hourly-cost",
  "persistent",
] as const;
export type PolicyKey = (typeof POLICY_KEYS)[number];

export const Annotations = {
  // §2 policy
  enabled: "slumber.dev/enabled",
  exclude: "slumber.dev/exclude",
  sleepAfter: "slumber.dev/sleep-after",
  awakeHours: "slumber.dev/awake-hours",
  sleepSchedule: "slumber.dev/sleep-schedule",
  wakeupSchedule: "slumber.dev/wakeup-schedule",
  timezone: "slumber.dev/timezone",
  force: "slumber.dev/force",
  forceUntil: "slumber.dev/force-until",
  ignoreUserAgents: "slumber.dev/ignore-user-agents",
  hourlyCost: "slumber.dev/hourly-cost",
  /** §1: an administrator vouches that a non-persistent control plane may be scaled to zero. */
  persistent: "slumber.dev/persistent",

  // §3/§5/§7 recorded state (RFC 3339)
  lastActivity: "slumber.dev/last-activity",
  /** What the last recorded activity was: `request` (the wake proxy), `session` (exec/attach/port-forward) or `workload` (a change to the workloads). */
  lastActivitySource: "slumber.dev/last-activity-source",
  /** §7: on the control-plane object only, the API server the wake proxy forwards to (default https://NAME.NS.svc:443). */
  upstream: "slumber.dev/upstream",
  lastWake: "slumber.dev/last-wake",
  manualSleep: "slumber.dev/manual-sleep",

  // §4 sleep bookkeeping
  sleepingSince: "slumber.dev/sleeping-since",
  sleepReason: "slumber.dev/sleep-reason",
  /** Snapshot of the estimated hourly cost, written when the target goes to sleep (same key as the override). */
  hourlyCostSnapshot: "slumber.dev/hourly-cost",
  originalReplicas: "slumber.dev/original-replicas",
  originalSuspend: "slumber.dev/original-suspend",
  // Bookkeeping beyond SPEC §4 (README "Deviations"): lifetime savings, whose cost snapshot, KEDA pauses.
  savedTotal: "slumber.dev/saved-total",
  asleepSecondsTotal: "slumber.dev/asleep-seconds-total",
  hourlyCostSource: "slumber.dev/hourly-cost-source",
  kedaPausedBySlumber: "slumber.dev/keda-paused",
  /** On a ScaledObject Slumber paused: the owners' own `paused-replicas`, restored on wake (absent: none). */
  originalKedaPausedReplicas: "slumber.dev/original-paused-replicas",
  /**
   * On a control plane: its metadata.generation when Slumber wrote its pause record. Replicas above 0 at that
   * same generation are a sleep interrupted before its scale-down; at a later one, a revert (issue 6 item 7).
   */
  pausedGeneration: "slumber.dev/paused-generation",

  // §4 `vcluster pause` compatibility
  loftPaused: "loft.sh/paused",
  loftPausedReplicas: "loft.sh/paused-replicas",
  loftPausedDate: "loft.sh/paused-date",
  /** Written instead of `loft.sh/paused` by `vcluster restore` and `vcluster certs rotate` while they hold the plane. */
  loftRestoring: "loft.sh/restoring",

  // §4 KEDA
  kedaPausedReplicas: "autoscaling.keda.sh/paused-replicas",

  // §2 vCluster Platform compatibility (read when the slumber.dev/ form is absent)
  loftSleepAfter: "sleepmode.loft.sh/sleep-after",
  loftSleepSchedule: "sleepmode.loft.sh/sleep-schedule",
  loftWakeupSchedule: "sleepmode.loft.sh/wakeup-schedule",
  loftTimezone: "sleepmode.loft.sh/timezone",
  loftIgnoreUserAgents: "sleepmode.loft.sh/ignore-user-agents",
  loftExclude: "sleepmode.loft.sh/exclude",
  /** Unix seconds, written by vCluster Platform. */
  loftLastActivity: "sleepmode.loft.sh/last-activity",
} as const;

/** Keys the agent writes or reads as state, not policy: allowed under `slumber.dev/` alongside POLICY_KEYS. */
export const SLUMBER_STATE_KEYS = [
  "last-activity",
  "last-activity-source",
  "upstream",
  "last-wake",
  "manual-sleep",
  "sleeping-since",
  "sleep-reason",
  "original-replicas",
  "original-suspend",
  "saved-total",
  "asleep-seconds-total",
  "hourly-cost-source",
  "keda-paused",
  "original-paused-replicas",
  "paused-generation",
] as const;

/** The `sleepmode.loft.sh/` policy keys Slumber reads as fallbacks (SPEC §2). */
export const LOFT_COMPAT_KEYS = [
  "sleep-after",
  "sleep-schedule",
  "wakeup-schedule",
  "timezone",
  "ignore-user-agents",
  "exclude",
] as const;
