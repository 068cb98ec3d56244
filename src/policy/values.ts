// Parsers for the small annotation values: booleans, RFC 3339 instants, costs, globs, force.
import { DateTime } from "luxon";
import type { Parsed } from "./duration.js";
import type { DesiredState } from "./types.js";

/** `true`/`false` in any letter case. */
export function parseBoolean(text: string): Parsed<boolean> {
  const value = text.trim().toLowerCase();
  if (value === "true") return { ok: true, value: true };
  if (value === "false") return { ok: true, value: false };
  return { ok: false, message: `"${text}" is not true or false` };
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** An RFC 3339 instant (`2026-11-27T19:00:00Z`, `2026-11-27T20:00:00+01:00`) to epoch ms. */
export function parseRfc3339(text: string): Parsed<number> {
  const value = text.trim();
  if (!RFC3339.test(value)) {
    return { ok: false, message: `"${text}" is not an RFC 3339 time (e.g. 2026-11-27T19:00:00Z)` };
  }
  const parsed = DateTime.fromISO(value.replace(/[ t]/, "T").replace(/z$/, "Z"), { setZone: true });
  if (!parsed.isValid)
    return { ok: false, message: `"${text}" is not a valid time: ${parsed.invalidExplanation}` };
  return { ok: true, value: parsed.toMillis() };
}

/** A non-negative decimal (`0.25`, `3`, `.5`). */
export function parseHourlyCost(text: string): Parsed<number> {
  const value = text.trim();
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(value)) {
    return { ok: false, message: `"${text}" is not a non-negative decimal number` };
  }
  const cost = Number(value);
  if (!Number.isFinite(cost)) return { ok: false, message: `"${text}" is too large to be a cost` };
  return { ok: true, value: cost };
}

export function parseForce(text: string): Parsed<DesiredState> {
  const value = text.trim().toLowerCase();
  if (value === "asleep" || value === "awake") return { ok: true, value };
  return { ok: false, message: `"${text}" is not asleep or awake` };
}

/** A comma list of globs (`argocd*,kube-probe/*`); empty items are skipped. */
export function parseUserAgentGlobs(text: string): Parsed<string[]> {
  return {
    ok: true,
    value: text
      .split(",")
      .map((glob) => glob.trim())
      .filter((glob) => glob !== ""),
  };
}

const globCache = new Map<string, RegExp>();

function globToRegExp(glob: string): RegExp {
  let regexp = globCache.get(glob);
  if (regexp === undefined) {
    const source = glob
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".");
    regexp = new RegExp(`^${source}$`, "i");
    globCache.set(glob, regexp);
  }
  return regexp;
}

/** Whether a request's User-Agent matches one of the globs (`*` any run, `?` one character; case-insensitive). */
export const userAgentIgnored = (globs: readonly string[], userAgent: string): boolean =>
  globs.some((glob) => globToRegExp(glob).test(userAgent));
