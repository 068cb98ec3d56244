// What the agent (or vCluster Platform) recorded on the object, parsed for the decision rule.
import { Annotations } from "./annotations.js";
import { parseSeconds } from "./duration.js";
import type { PolicyError, RecordedState } from "./types.js";
import { parseRfc3339 } from "./values.js";

/**
 * Reads `slumber.dev/last-activity`, `last-wake`, `manual-sleep` (RFC 3339) and vCluster Platform's
 * `sleepmode.loft.sh/last-activity` (Unix seconds). Both activity keys count: the later one wins.
 * A value that does not parse is an error naming the key; it never reads as "no recorded use".
 */
export function parseRecordedState(annotations: Readonly<Record<string, string>>): {
  state: RecordedState;
  errors: PolicyError[];
} {
  const state: RecordedState = {};
  const errors: PolicyError[] = [];
  const read = (
    key: string,
    parse: (text: string) => ReturnType<typeof parseRfc3339>,
  ): number | undefined => {
    const value = annotations[key];
    if (value === undefined) return undefined;
    const parsed = parse(value);
    if (parsed.ok) return parsed.value;
    errors.push({ key, value, message: `${key}: ${parsed.message}` });
    return undefined;
  };
  const activity = read(Annotations.lastActivity, parseRfc3339);
  const platformActivity = read(Annotations.loftLastActivity, parseSeconds);
  const activities = [activity, platformActivity].filter((at) => at !== undefined);
  if (activities.length > 0) state.lastActivity = Math.max(...activities);
  const lastWake = read(Annotations.lastWake, parseRfc3339);
  if (lastWake !== undefined) state.lastWake = lastWake;
  const manualSleep = read(Annotations.manualSleep, parseRfc3339);
  if (manualSleep !== undefined) state.manualSleep = manualSleep;
  return { state, errors };
}
