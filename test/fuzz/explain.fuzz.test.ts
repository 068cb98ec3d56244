// Fuzzing of `slumber explain` (issue 9, item 5): runExplain with any options, and the command line
// with any arguments. Always exit 0 with one JSON line, or exit 2 with every problem named on
// stderr (the flag, or the annotation's key and value); never an exception, never exit 1.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { ExitCode } from "../../src/cli/errors.js";
import { runExplain } from "../../src/cli/explain.js";
import { runCli } from "../../src/cli/program.js";
import { LOFT_COMPAT_KEYS, POLICY_KEYS, SLUMBER_STATE_KEYS } from "../../src/policy/annotations.js";
import { hostileString, PROTOTYPE_WORDS, RUNS } from "./arbitraries.js";

const KEYS = [
  ...POLICY_KEYS.map((key) => `slumber.dev/${key}`),
  ...SLUMBER_STATE_KEYS.map((key) => `slumber.dev/${key}`),
  ...LOFT_COMPAT_KEYS.map((key) => `sleepmode.loft.sh/${key}`),
  "sleepmode.loft.sh/last-activity",
  ...PROTOTYPE_WORDS,
];
const VALUES = [
  "true",
  "1h",
  "0",
  "Mon-Fri 08:00-19:00",
  "0 19 * * 1-5",
  "0 8 * * 1-5",
  "Europe/Berlin",
  "asleep",
  "2026-11-27T11:00:00Z",
  "0.5",
];
const annotation = fc.oneof(
  fc
    .tuple(
      fc.oneof(fc.constantFrom(...KEYS), hostileString),
      fc.oneof(fc.constantFrom(...VALUES), hostileString),
    )
    .map(([key, value]) => `${key}=${value}`),
  hostileString,
);
const instant = fc.oneof(
  fc
    .integer({ min: Date.parse("1970-01-01T00:00:00Z"), max: Date.parse("2100-01-01T00:00:00Z") })
    .map((at) => new Date(at).toISOString()),
  hostileString,
);
const options = fc.record({
  at: instant,
  defaultTimezone: fc.option(
    fc.oneof(fc.constantFrom("UTC", "Europe/Berlin", "Pacific/Chatham"), hostileString),
    {
      nil: undefined,
    },
  ),
  defaultSleepAfter: fc.option(fc.oneof(fc.constantFrom("1h", "0", "90s"), hostileString), {
    nil: undefined,
  }),
  annotations: fc.array(annotation, { maxLength: 5 }),
});

function checkOutcome(result: { exitCode: number; stdout: string; stderr: string }): void {
  if (result.exitCode === ExitCode.ok) {
    expect(result.stderr).toBe("");
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    const output = JSON.parse(lines[0]!) as { state: string; reason: string; next: unknown };
    expect(["unmanaged", "awake", "asleep"]).toContain(output.state);
    expect(typeof output.reason).toBe("string");
  } else {
    expect(result.exitCode).toBe(ExitCode.usage);
    expect(result.stdout).toBe("");
    expect(result.stderr.length).toBeGreaterThan(0);
  }
}

describe("fuzz: runExplain", () => {
  test("any options: one JSON line, or exit 2 with each line on stderr naming what it refused", () => {
    fc.assert(
      fc.property(options, (opts) => {
        const result = runExplain(opts);
        checkOutcome(result);
        // (A value may hold a newline, so a problem may span lines: only the first is checked.)
        if (result.exitCode !== ExitCode.ok) expect(result.stderr.startsWith("slumber explain: ")).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  test("one annotation given once: refused only for its key or value, and then both are on stderr", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constantFrom(...KEYS), hostileString),
        fc.oneof(fc.constantFrom(...VALUES), hostileString),
        (key, value) => {
          fc.pre(key.trim() !== "" && !key.includes("=") && !/[\n\r]/.test(key + value));
          const result = runExplain({ at: "2026-11-27T12:00:00Z", annotations: [`${key}=${value}`] });
          checkOutcome(result);
          if (result.exitCode === ExitCode.ok) return;
          expect(result.stderr).not.toContain("given twice");
          expect(result.stderr).toContain(key.trim());
          expect(result.stderr).toContain(value);
        },
      ),
      {
        numRuns: RUNS,
        examples: [
          ["constructor", "x"],
          ["__proto__", "x"],
          ["toString", "1"],
        ],
      },
    );
  });
});

describe("fuzz: slumber explain on the command line", () => {
  const word = fc.oneof(
    fc.constantFrom(
      "--at",
      "--annotation",
      "--default-timezone",
      "--default-sleep-after",
      "--at=2026-11-27T12:00:00Z",
      "2026-11-27T12:00:00Z",
      "slumber.dev/enabled=true",
      "-",
      "--",
      "--unknown",
      "-x",
    ),
    annotation,
  );
  test("any arguments: exit 0 or 2, never an internal failure or an exception", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(word, { maxLength: 8 }), async (argv) => {
        let stdout = "";
        let stderr = "";
        const code = await runCli(["explain", ...argv], {
          out: (text) => {
            stdout += text;
          },
          err: (text) => {
            stderr += text;
          },
        });
        expect([ExitCode.ok, ExitCode.usage], stderr).toContain(code);
        if (code === ExitCode.usage) expect(stderr.length).toBeGreaterThan(0);
        else expect(stdout.length).toBeGreaterThan(0);
      }),
      { numRuns: RUNS },
    );
  });
});
