import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger } from "pino";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Field names that carry credentials; never written, at the top level or one object deep. */
const CREDENTIAL_FIELDS = [
  "authorization",
  "Authorization",
  "token",
  "bearerToken",
  "password",
  "client-key",
  "client-key-data",
  "clientKey",
  "keyData",
];

export const REDACTED_PATHS = CREDENTIAL_FIELDS.flatMap((field) => {
  const member = /^[A-Za-z_$][\w$]*$/.test(field) ? `.${field}` : `["${field}"]`;
  const topLevel = member.startsWith(".") ? field : member;
  return [topLevel, `*${member}`, `headers${member}`, `req.headers${member}`];
});

/**
 * One JSON object per line on stderr (stdout belongs to command output such as `slumber status`),
 * with credential-like fields replaced by "[redacted]".
 */
export function createLogger(
  level: LogLevel = "info",
  destination: DestinationStream = pino.destination(2),
): Logger {
  return pino(
    {
      level,
      base: { name: "slumber" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    },
    destination,
  );
}
