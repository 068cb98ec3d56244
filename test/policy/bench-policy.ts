// Prints how long resolvePolicy + decide (with next) take for 1,000 targets, cold and warm, and one explain.
// A figure to compare, not a test. Run: npm run bench -- test/policy/bench-policy.ts
import { runExplain } from "../../src/cli/explain.js";
import { decide } from "../../src/policy/decide.js";
import { resolvePolicy } from "../../src/policy/resolve.js";
import { parseRecordedState } from "../../src/policy/state.js";

const COUNT = 1_000;
const ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "UTC"];
const NOW = Date.parse("2026-11-27T17:30:00Z");
const iso = (ms: number) => new Date(ms).toISOString();

const targets = Array.from({ length: COUNT }, (_, i) => {
  const annotations: Record<string, string> = {
    "slumber.dev/timezone": ZONES[i % ZONES.length]!,
    "slumber.dev/last-activity": iso(NOW - (i % 7) * 1_800_000),
  };
  if (i % 4 === 0) annotations["slumber.dev/awake-hours"] = "Mon-Fri 08:00-12:00, Mon-Fri 13:00-19:00";
  if (i % 4 === 1) {
    annotations["slumber.dev/sleep-schedule"] = "0 19 * * 1-5";
    annotations["slumber.dev/wakeup-schedule"] = "0 8 * * 1-5";
  }
  if (i % 4 === 2) annotations["slumber.dev/sleep-after"] = "1h";
  if (i % 4 === 3) {
    annotations["slumber.dev/awake-hours"] = "Mon-Fri 08:00-19:00";
    annotations["slumber.dev/sleep-after"] = "30m";
  }
  return annotations;
});

function pass(at: number): number {
  const start = performance.now();
  for (const annotations of targets) {
    const { policy } = resolvePolicy(
      { kind: "vcluster", objectAnnotations: annotations },
      { defaultTimezone: "UTC", defaultSleepAfterMs: 3_600_000, manageAll: false, defaults: {} },
    );
    decide(policy, parseRecordedState(annotations).state, at);
  }
  return performance.now() - start;
}

console.log(`resolvePolicy+decide, ${COUNT} targets, cold caches: ${pass(NOW).toFixed(1)} ms`);
for (let i = 1; i <= 3; i++) console.log(`  warm pass ${i}: ${pass(NOW + i * 30_000).toFixed(1)} ms`);
const explainStart = performance.now();
runExplain({
  at: "2026-11-27T21:00:00+01:00",
  annotations: ["slumber.dev/awake-hours=Mon-Fri 08:00-19:00", "slumber.dev/timezone=Europe/Berlin"],
});
console.log(`one runExplain: ${(performance.now() - explainStart).toFixed(2)} ms`);
