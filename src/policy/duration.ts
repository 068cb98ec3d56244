// Durations as users write them (`90s`, `30m`, `1h30m`, Go's `1h0m0s`), to milliseconds.

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };
const PART = /(\d+(?:\.\d+)?|\.\d+)(ms|h|m|s)/y;

/**
 * A Go-style duration: one or more `<number><unit>` parts, units `h`, `m`, `s`, `ms`
 * (`90s`, `30m`, `2h`, `1h30m`, `1h0m0s`, `1.5h`); `0` alone means zero (off).
 * A bare number other than 0 is rejected: minutes or seconds would be a guess.
 */
export function parseDuration(text: string): Parsed<number> {
  const value = text.trim();
  if (value === "0") return { ok: true, value: 0 };
  if (value === "") return { ok: false, message: "empty duration" };
  if (/^\d+(\.\d+)?$/.test(value)) {
    return {
      ok: false,
      message: `"${value}" has no unit; write e.g. ${value}m or ${value}s (units h, m, s, ms)`,
    };
  }
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < value.length) {
    const start = PART.lastIndex;
    const match = PART.exec(value);
    if (match === null) {
      return {
        ok: false,
        message: `"${value}" is not a duration at "${value.slice(start)}" (expected e.g. 90s, 30m, 2h, 1h30m)`,
      };
    }
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
  }
  const ms = Math.round(total);
  if (!Number.isSafeInteger(ms)) return { ok: false, message: `"${value}" is too long to be a duration` };
  return { ok: true, value: ms };
}

/** Integer seconds, as vCluster Platform writes `sleepmode.loft.sh/sleep-after`. */
export function parseSeconds(text: string): Parsed<number> {
  const value = text.trim();
  if (!/^\d+$/.test(value)) return { ok: false, message: `"${value}" is not a whole number of seconds` };
  const ms = Number(value) * 1000;
  if (!Number.isSafeInteger(ms))
    return { ok: false, message: `"${value}" is too many seconds to be a duration` };
  return { ok: true, value: ms };
}

/** `1h30m`, `45s`, `2h`: the shortest Go-style spelling (milliseconds dropped below a second). */
export function formatDuration(ms: number): string {
  if (ms <= 0) return "0s";
  if (ms < 1000) return `${ms}ms`;
  let seconds = Math.floor(ms / 1000);
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  return `${hours > 0 ? `${hours}h` : ""}${minutes > 0 ? `${minutes}m` : ""}${seconds > 0 ? `${seconds}s` : ""}`;
}
