// Human log lines for a person watching `slumber run` in a terminal: one short line per event.
// pino still builds (and redacts) the JSON record; this only re-renders it, so both formats carry
// the same fields and neither ever carries a credential.
import type { DestinationStream } from "pino";

export const LOG_FORMATS = ["auto", "text", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** `auto`: text when stderr is a terminal, JSON otherwise (pipes, files, log collectors). */
export function resolveLogFormat(format: LogFormat, isTty: boolean): "text" | "json" {
  if (format === "auto") return isTty ? "text" : "json";
  return format;
}

/** Fields every record has or that the line shows in its own place. */
const OMITTED = new Set(["level", "time", "msg", "name", "pid", "hostname", "target"]);
const MAX_VALUE = 160;

const COLORS: Record<string, string> = {
  fatal: "\x1b[31;1m",
  error: "\x1b[31m",
  warn: "\x1b[33m",
  info: "\x1b[36m",
  debug: "\x1b[90m",
  trace: "\x1b[90m",
};
const RESET = "\x1b[0m";
const DIM = "\x1b[2m";

function short(value: string): string {
  return value.length > MAX_VALUE ? `${value.slice(0, MAX_VALUE - 1)}…` : value;
}

/** `key=value`, the value bare when it is a plain word, else JSON. */
function field(key: string, value: unknown): string {
  if (key === "err" && value && typeof value === "object" && "message" in value)
    return `err=${JSON.stringify(short(String((value as { message: unknown }).message)))}`;
  if (typeof value === "string")
    return `${key}=${/^[\w./:@+-]+$/.test(value) ? value : JSON.stringify(short(value))}`;
  if (typeof value === "number" || typeof value === "boolean" || value === null) return `${key}=${value}`;
  return `${key}=${short(JSON.stringify(value))}`;
}

function clock(time: unknown): string {
  const date = typeof time === "string" || typeof time === "number" ? new Date(time) : new Date();
  if (Number.isNaN(date.getTime())) return "--:--:--";
  return date.toISOString().slice(11, 19);
}

/**
 * Renders one pino JSON record as `HH:MM:SS LEVEL [target] message key=value ...` (UTC time, like the
 * JSON). A line that is not JSON is passed through unchanged.
 */
export function formatLogLine(json: string, color = false): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith("\n") ? json : `${json}\n`;
  }
  if (!record || typeof record !== "object") return `${json}\n`;
  const level = typeof record.level === "string" ? record.level : String(record.level ?? "");
  const levelText = level.toUpperCase().padEnd(5);
  const parts = [
    color ? `${DIM}${clock(record.time)}${RESET}` : clock(record.time),
    color && COLORS[level] ? `${COLORS[level]}${levelText}${RESET}` : levelText,
  ];
  if (typeof record.target === "string") parts.push(`${record.target}:`);
  if (record.msg !== undefined && record.msg !== "") parts.push(String(record.msg));
  const fields = Object.entries(record)
    .filter(([key, value]) => !OMITTED.has(key) && value !== undefined)
    .map(([key, value]) => field(key, value));
  if (fields.length > 0) parts.push(color ? `${DIM}${fields.join(" ")}${RESET}` : fields.join(" "));
  return `${parts.join(" ")}\n`;
}

/** A pino destination that writes human lines to `out` (stderr in the CLI). */
export function humanDestination(out: { write(text: string): unknown }, color: boolean): DestinationStream {
  return {
    write(chunk: string) {
      for (const line of chunk.split("\n")) if (line) out.write(formatLogLine(line, color));
    },
  };
}

/** The destination for `--log-format`; undefined means pino's JSON on stderr (createLogger's default). */
export function logDestination(
  format: LogFormat,
  stderr: { write(text: string): unknown; isTTY?: boolean } = process.stderr,
  env: NodeJS.ProcessEnv = process.env,
): DestinationStream | undefined {
  if (resolveLogFormat(format, stderr.isTTY === true) === "json") return undefined;
  const color = stderr.isTTY === true && !env.NO_COLOR;
  return humanDestination(stderr, color);
}
