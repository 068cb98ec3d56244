// What a deploy changes and an autoscaler or a sleep does not: a digest of a workload's spec with the
// fields Slumber and autoscalers write (replicas, a CronJob's suspend) left out.
import { createHash } from "node:crypto";

/** JSON with object keys sorted, so two reads of the same spec give the same text. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/** sha256 of the spec without `omit` (top-level keys). */
export function specFingerprint(spec: unknown, omit: readonly string[]): string {
  const rest =
    spec !== null && typeof spec === "object"
      ? Object.fromEntries(Object.entries(spec as Record<string, unknown>).filter(([k]) => !omit.includes(k)))
      : {};
  return createHash("sha256").update(canonical(rest)).digest("hex").slice(0, 32);
}
