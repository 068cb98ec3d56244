// `slumber explain`: the SPEC §3 decision for annotations given on the command line, no cluster.
//
// The annotations are the object annotations of a virtual cluster: no Namespace annotations, no
// config.yaml, no config-file defaults. An unknown `slumber.dev/` key is an error (a typo would
// otherwise silently explain a different policy). `next.at` is printed as `YYYY-MM-DDTHH:mm:ssZ`,
// with `.SSS` only when the instant has milliseconds (possible only via a recorded timestamp).
import { decide } from "../policy/decide.js";
import { parseDuration } from "../policy/duration.js";
import { resolvePolicy, unknownSlumberKeys } from "../policy/resolve.js";
import { parseRecordedState } from "../policy/state.js";
import type { PolicyError } from "../policy/types.js";
import { parseRfc3339 } from "../policy/values.js";
import { formatUtc, isValidTimezone } from "../policy/zone.js";
import { reasonWithActivitySource } from "../targets/bookkeeping.js";
import { ExitCode } from "./errors.js";

export interface ExplainOptions {
  /** RFC 3339. */
  at: string;
  /** IANA zone; default UTC. */
  defaultTimezone?: string;
  /** Duration; default 1h. */
  defaultSleepAfter?: string;
  /** `KEY=VALUE` items, as given to `--annotation`. */
  annotations: string[];
}

export interface ExplainResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

const DEFAULT_SLEEP_AFTER = "1h";

const failure = (messages: string[]): ExplainResult => ({
  exitCode: ExitCode.usage,
  stdout: "",
  stderr: `${messages.map((message) => `slumber explain: ${message}`).join("\n")}\n`,
});

const describeError = (error: PolicyError): string =>
  error.message.includes(`"${error.value}"`) ? error.message : `${error.message} (value "${error.value}")`;

export function runExplain(options: ExplainOptions): ExplainResult {
  const problems: string[] = [];
  const at = parseRfc3339(options.at);
  if (!at.ok) problems.push(`--at: ${at.message}`);
  const timezone = options.defaultTimezone ?? "UTC";
  if (!isValidTimezone(timezone)) problems.push(`--default-timezone: "${timezone}" is not an IANA time zone`);
  const sleepAfter = parseDuration(options.defaultSleepAfter ?? DEFAULT_SLEEP_AFTER);
  if (!sleepAfter.ok) problems.push(`--default-sleep-after: ${sleepAfter.message}`);

  // A Map, not an object literal: a key such as "constructor" must not be found before it is given.
  const given = new Map<string, string>();
  for (const item of options.annotations) {
    const separator = item.indexOf("=");
    if (separator <= 0) {
      problems.push(`--annotation "${item}": expected KEY=VALUE`);
      continue;
    }
    const key = item.slice(0, separator).trim();
    if (given.has(key)) {
      problems.push(`--annotation ${key} is given twice`);
      continue;
    }
    given.set(key, item.slice(separator + 1));
  }
  const annotations: Record<string, string> = Object.fromEntries(given);
  for (const key of unknownSlumberKeys(annotations)) {
    problems.push(`${key}="${annotations[key]}": unknown slumber.dev/ annotation (a typo?)`);
  }
  const { policy, errors: policyErrors } = resolvePolicy(
    { kind: "vcluster", objectAnnotations: annotations },
    {
      defaultTimezone: isValidTimezone(timezone) ? timezone : "UTC",
      defaultSleepAfterMs: sleepAfter.ok ? sleepAfter.value : 0,
      manageAll: false,
      defaults: {},
    },
  );
  const { state, errors: stateErrors } = parseRecordedState(annotations);
  problems.push(...[...policyErrors, ...stateErrors].map(describeError));
  if (problems.length > 0 || !at.ok) return failure(problems);

  const decision = decide(policy, state, at.value);
  const output = {
    state: decision.state,
    reason: reasonWithActivitySource(decision.reason, annotations),
    next: decision.next === null ? null : { state: decision.next.state, at: formatUtc(decision.next.at) },
  };
  return { exitCode: ExitCode.ok, stdout: `${JSON.stringify(output)}\n`, stderr: "" };
}
