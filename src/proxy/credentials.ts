// Credentials (SPEC §7): an unauthenticated request never wakes a cluster. Bearer tokens pass through;
// service-account JWTs are checked offline with that cluster's `sa.pub`; a client certificate is
// verified against that cluster's own `client-ca.crt` (never a merged bundle: tenants' CAs may share a
// subject) and its identity forwarded with the cluster's front-proxy client certificate. Credentials are
// never logged: errors name the cluster and the check, not the token or the certificate.
import { createHash, createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import { errors as joseErrors, jwtVerify } from "jose";
import { type ProxyStatus, unauthorized } from "./status.js";

/** The parts of Secret `NAME-certs` the proxy uses (vcluster's layout). */
export interface ClusterCerts {
  /** `client-ca.crt`: may hold several certificates (a CA rotation). */
  clientCas: X509Certificate[];
  /** `sa.pub`: verifies service-account tokens. */
  serviceAccountKey: KeyObject | null;
  /** `ca.crt`: verifies the virtual API server's serving certificate. */
  serverCa: string | null;
  /** `front-proxy-client.crt`/`.key`: the proxy's identity towards the API server for X-Remote-* headers. */
  frontProxy: { cert: string; key: string } | null;
  /** Changes when any of the above changes (pools are rebuilt). */
  version: string;
}

export type Identity = { kind: "bearer" } | { kind: "certificate"; user: string; groups: string[] };

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const CLIENT_AUTH_EKU = "1.3.6.1.5.5.7.3.2";

/** Parses `NAME-certs`; a malformed item is left out and reported in `problems`, never thrown. */
export function parseClusterCerts(data: Readonly<Record<string, Buffer>>): {
  certs: ClusterCerts;
  problems: string[];
} {
  const problems: string[] = [];
  const text = (key: string): string | null => data[key]?.toString("utf8") ?? null;
  const clientCas: X509Certificate[] = [];
  for (const pem of text("client-ca.crt")?.match(PEM_CERT) ?? []) {
    try {
      clientCas.push(new X509Certificate(pem));
    } catch (err) {
      problems.push(`client-ca.crt: ${(err as Error).message}`);
    }
  }
  let serviceAccountKey: KeyObject | null = null;
  const saPub = text("sa.pub");
  if (saPub !== null) {
    try {
      serviceAccountKey = createPublicKey(saPub);
    } catch (err) {
      problems.push(`sa.pub: ${(err as Error).message}`);
    }
  }
  const cert = text("front-proxy-client.crt");
  const key = text("front-proxy-client.key");
  const hash = createHash("sha256");
  for (const name of Object.keys(data).sort()) hash.update(name).update(data[name] ?? "");
  return {
    certs: {
      clientCas,
      serviceAccountKey,
      serverCa: text("ca.crt"),
      frontProxy: cert !== null && key !== null ? { cert, key } : null,
      version: hash.digest("hex").slice(0, 16),
    },
    problems,
  };
}

/** `CN` is the user, each `O` a group, as the API server reads a client certificate. */
export function certificateIdentity(cert: X509Certificate): { user: string; groups: string[] } {
  let user = "";
  const groups: string[] = [];
  for (const line of cert.subject.split("\n")) {
    const at = line.indexOf("=");
    if (at === -1) continue;
    const field = line.slice(0, at);
    const value = line.slice(at + 1);
    if (field === "CN") user = value;
    if (field === "O") groups.push(value);
  }
  return { user, groups };
}

/** True when `cert` was issued by one of `cas`, is within its validity, and may authenticate clients. */
export function verifyClientCertificate(
  cert: X509Certificate,
  cas: readonly X509Certificate[],
  now: number,
): string | null {
  if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo))
    return "the client certificate is expired or not yet valid";
  const usages = cert.keyUsage;
  if (usages && usages.length > 0 && !usages.includes(CLIENT_AUTH_EKU))
    return "the client certificate is not for client authentication";
  for (const ca of cas) {
    if (!cert.checkIssued(ca)) continue;
    if (!cert.verify(ca.publicKey)) continue;
    if (now < Date.parse(ca.validFrom) || now > Date.parse(ca.validTo)) continue;
    return null;
  }
  return "the client certificate is not signed by this virtual cluster's client CA";
}

/** Decodes a JWT's claims without checking it; null when the token is not a JWT. */
function unverifiedClaims(token: string): Record<string, unknown> | null {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts[1]) return null;
  try {
    const claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8")) as unknown;
    return claims !== null && typeof claims === "object" ? (claims as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export const isServiceAccountToken = (claims: Record<string, unknown> | null): boolean =>
  typeof claims?.sub === "string" && claims.sub.startsWith("system:serviceaccount:");

/** Service-account tokens already verified, by SHA-256 of the token: expiry in epoch ms. Bounded. */
export class VerifiedTokens {
  private readonly entries = new Map<string, number>();
  constructor(private readonly capacity = 10_000) {}
  has(digest: string, now: number): boolean {
    const expires = this.entries.get(digest);
    if (expires === undefined) return false;
    if (now < expires) return true;
    this.entries.delete(digest);
    return false;
  }
  add(digest: string, expires: number): void {
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(digest, expires);
  }
}

export interface CredentialInput {
  authorization: string | undefined;
  /** The client certificate presented in the TLS handshake, if any (asked for only without a token). */
  peerCertificate: X509Certificate | undefined | (() => X509Certificate | undefined);
}

/**
 * The identity to forward, or the 401 to answer. `certs` is null when Secret `NAME-certs` does not exist.
 * `cluster` is `NS/NAME`, for messages.
 */
export async function authenticate(
  input: CredentialInput,
  cluster: string,
  certs: ClusterCerts | null,
  now: number,
  verified: VerifiedTokens,
): Promise<Identity | ProxyStatus> {
  const { authorization } = input;
  if (authorization !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match?.[1])
      return unauthorized(`virtual cluster ${cluster}: the Authorization header is not a bearer token`);
    const token = match[1];
    const claims = unverifiedClaims(token);
    // Other tokens (OIDC, static) cannot be checked offline: the API server checks them.
    if (!isServiceAccountToken(claims)) return { kind: "bearer" };
    // Per cluster and per sa.pub: a token verified for one cluster (or a rotated-out key) proves nothing for another.
    const digest = createHash("sha256")
      .update(cluster)
      .update("\0")
      .update(certs?.version ?? "")
      .update("\0")
      .update(token)
      .digest("base64url");
    if (verified.has(digest, now)) return { kind: "bearer" };
    if (!certs?.serviceAccountKey)
      return unauthorized(
        `virtual cluster ${cluster}: service-account tokens cannot be checked (no sa.pub in Secret ${cluster}-certs)`,
      );
    try {
      const { payload } = await jwtVerify(token, certs.serviceAccountKey, { currentDate: new Date(now) });
      verified.add(digest, typeof payload.exp === "number" ? payload.exp * 1000 : now + 5 * 60_000);
      return { kind: "bearer" };
    } catch (err) {
      const why =
        err instanceof joseErrors.JWTExpired ? "has expired" : "is not signed by this virtual cluster";
      return unauthorized(`virtual cluster ${cluster}: the service-account token ${why}`);
    }
  }
  const peer = typeof input.peerCertificate === "function" ? input.peerCertificate() : input.peerCertificate;
  if (peer) {
    if (!certs || certs.clientCas.length === 0)
      return unauthorized(
        `virtual cluster ${cluster}: client certificates cannot be verified (no client-ca.crt in Secret ${cluster}-certs)`,
      );
    const problem = verifyClientCertificate(peer, certs.clientCas, now);
    if (problem) return unauthorized(`virtual cluster ${cluster}: ${problem}`);
    return { kind: "certificate", ...certificateIdentity(peer) };
  }
  return unauthorized(
    `virtual cluster ${cluster}: no credentials; present a client certificate or a bearer token (see slumber kubeconfig)`,
  );
}
