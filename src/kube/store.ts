// The cache's building blocks: resourceVersion order, the per-namespace stores of workloads and pods,
// and label selectors evaluated in memory.

/**
 * True when `candidate` is a later resourceVersion than `current`. Integer versions (every built-in kind,
 * KEP-5504) compare as numbers; anything else cannot be compared, and the later arrival wins.
 */
export function isNewer(candidate: string, current: string): boolean {
  if (/^\d+$/.test(candidate) && /^\d+$/.test(current)) {
    return candidate.length !== current.length ? candidate.length > current.length : candidate > current;
  }
  return candidate !== current;
}

let slotSequence = 0;

/** The newest slot's sequence number: a LIST that starts now sweeps only slots up to it. */
export const currentSlotSequence = (): number => slotSequence;

/** The workloads or pods of one tracked namespace. */
export class Slot<T> {
  readonly objects = new Map<string, T>();
  /** Creation order: a slot created while a cluster-wide LIST runs was filled by its own LIST, not that one. */
  readonly sequence = ++slotSequence;
  /** Deletions seen while the first LIST of the namespace is in flight, so that LIST cannot resurrect them. */
  tombstones: Map<string, string> | null = new Map();
  ready: Promise<void> = Promise.resolve();
  constructor(public lastRead: number) {}
}

/** Objects of tracked namespaces only; an event for any other namespace is dropped. */
export class NamespacedStore<T> {
  readonly slots = new Map<string, Slot<T>>();
  constructor(private readonly versionOf: (value: T) => string) {}

  /** Keeps `value` unless the store already holds the same or a later version (or saw it deleted later). */
  upsert(namespace: string, key: string, value: T): boolean {
    const slot = this.slots.get(namespace);
    if (!slot) return false;
    const version = this.versionOf(value);
    const gone = slot.tombstones?.get(key);
    if (gone !== undefined && !isNewer(version, gone)) return false;
    const existing = slot.objects.get(key);
    if (existing && !isNewer(version, this.versionOf(existing))) return false;
    slot.objects.set(key, value);
    return true;
  }

  remove(namespace: string, key: string, version: string): void {
    const slot = this.slots.get(namespace);
    if (!slot) return;
    slot.objects.delete(key);
    slot.tombstones?.set(key, version);
  }

  /**
   * After a full LIST at `version` that began when slots up to `listStart` existed: entries of `matches` not
   * listed, and not newer than the LIST, are gone.
   */
  sweep(seen: Set<string>, version: string, listStart: number, matches: (key: string) => boolean): string[] {
    const removed: string[] = [];
    for (const [namespace, slot] of this.slots) {
      if (slot.sequence > listStart) continue;
      for (const [key, value] of slot.objects) {
        const id = `${namespace}/${key}`;
        if (!matches(key) || seen.has(id) || isNewer(this.versionOf(value), version)) continue;
        slot.objects.delete(key);
        removed.push(id);
      }
    }
    return removed;
  }

  size(): number {
    let n = 0;
    for (const slot of this.slots.values()) n += slot.objects.size;
    return n;
  }
}

/**
 * A label selector as a predicate: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`,
 * comma-separated. Null for anything else (the read then goes to the API server, which knows the grammar).
 */
export function parseSelector(
  selector: string,
): ((labels: Readonly<Record<string, string>>) => boolean) | null {
  const terms: LabelTest[] = [];
  // Split at commas outside parentheses (`k in (a,b)` holds commas of its own).
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of selector) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (depth < 0 || depth > 1) return null;
    if (ch === "," && depth === 0) {
      parts.push(current);
      current = "";
    } else current += ch;
  }
  if (depth !== 0) return null;
  parts.push(current);
  for (const raw of parts) {
    const term = selectorTerm(raw.trim());
    if (term === null) return null;
    if (term !== "empty") terms.push(term);
  }
  return (labels) => terms.every((t) => t(labels));
}

type LabelTest = (labels: Readonly<Record<string, string>>) => boolean;

function selectorTerm(part: string): LabelTest | "empty" | null {
  if (part === "") return "empty";
  const equality = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(part);
  if (equality) {
    const [, key = "", op, value = ""] = equality;
    return op === "!=" ? (l) => l[key] !== value : (l) => l[key] === value;
  }
  const set = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part);
  if (set) {
    const [, key = "", op, list = ""] = set;
    const values = new Set(list.split(",").map((v) => v.trim()));
    return op === "in"
      ? (l) => l[key] !== undefined && values.has(l[key])
      : (l) => l[key] === undefined || !values.has(l[key]);
  }
  const absent = /^!([\w./-]+)$/.exec(part);
  if (absent) return (l) => l[absent[1] ?? ""] === undefined;
  const exists = /^([\w./-]+)$/.exec(part);
  if (exists) return (l) => l[exists[1] ?? ""] !== undefined;
  return null;
}
