// The policy engine's public surface: pure, no I/O.
export * from "./annotations.js";
export { type AwakeSpan, parseAwakeHours } from "./awake-hours.js";
export { type CronSchedule, cronNextAfter, cronPreviousAtOrBefore, parseCron } from "./cron.js";
export { decide, HORIZON_MS } from "./decide.js";
export { formatDuration, type Parsed, parseDuration, parseSeconds } from "./duration.js";
export { type Policy, resolvePolicy, unknownSlumberKeys, validateDefaults } from "./resolve.js";
export { parseRecordedState } from "./state.js";
export * from "./types.js";
export {
  parseBoolean,
  parseForce,
  parseHourlyCost,
  parseRfc3339,
  parseUserAgentGlobs,
  userAgentIgnored,
} from "./values.js";
export { formatLocal, formatUtc, isValidTimezone } from "./zone.js";
