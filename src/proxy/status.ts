// Kubernetes `Status` bodies for every answer the proxy makes itself, so kubectl prints a clear message.
import { STATUS_CODES } from "node:http";

/** `Status.reason` values (metav1.StatusReason) the proxy uses. */
export type StatusReason =
  | "BadRequest"
  | "Unauthorized"
  | "NotFound"
  | "MethodNotAllowed"
  | "InternalError"
  | "ServiceUnavailable"
  | "Timeout"
  | "RequestEntityTooLarge";

export interface ProxyStatus {
  code: number;
  reason: StatusReason;
  message: string;
  /** Seconds; sent as an integer `Retry-After` header and in `details.retryAfterSeconds`. */
  retryAfterSeconds?: number;
}

export function statusBody(status: ProxyStatus): string {
  const body: Record<string, unknown> = {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: status.message,
    reason: status.reason,
    code: status.code,
  };
  if (status.retryAfterSeconds !== undefined)
    body.details = { retryAfterSeconds: Math.ceil(status.retryAfterSeconds) };
  return JSON.stringify(body);
}

export function statusHeaders(status: ProxyStatus, length: number): Record<string, string> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "content-length": String(length),
    "cache-control": "no-store",
  };
  if (status.retryAfterSeconds !== undefined)
    headers["retry-after"] = String(Math.max(1, Math.ceil(status.retryAfterSeconds)));
  return headers;
}

/** A whole HTTP/1.1 response for a raw socket (an upgrade request answered by the proxy itself). */
export function rawStatusResponse(status: ProxyStatus): string {
  const body = statusBody(status);
  const headers = statusHeaders(status, Buffer.byteLength(body));
  let head = `HTTP/1.1 ${status.code} ${STATUS_CODES[status.code] ?? ""}\r\nconnection: close\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  return `${head}\r\n${body}`;
}

export const notFound = (message: string): ProxyStatus => ({ code: 404, reason: "NotFound", message });
export const badRequest = (message: string): ProxyStatus => ({ code: 400, reason: "BadRequest", message });
export const unauthorized = (message: string): ProxyStatus => ({
  code: 401,
  reason: "Unauthorized",
  message,
});
export const badGateway = (message: string): ProxyStatus => ({ code: 502, reason: "InternalError", message });
export const gatewayTimeout = (message: string): ProxyStatus => ({ code: 504, reason: "Timeout", message });
export const unavailable = (message: string, retryAfterSeconds?: number): ProxyStatus =>
  retryAfterSeconds === undefined
    ? { code: 503, reason: "ServiceUnavailable", message }
    : { code: 503, reason: "ServiceUnavailable", message, retryAfterSeconds };
