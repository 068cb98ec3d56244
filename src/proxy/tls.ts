// The proxy's serving certificate. From a Secret named by `--proxy-cert-secret` (cert-manager's layout:
// `tls.crt`, `tls.key`, optional `ca.crt`), followed for rotation; or, without the flag, generated at
// the first start and stored in a Secret so every replica serves the same one (kubeconfigs carry its CA).
// node:crypto cannot issue X.509 certificates; node-forge can, in plain JS with no dependencies and no
// global polyfill (@peculiar/x509 needs reflect-metadata installed globally). Keys come from node:crypto.
import { generateKeyPairSync, randomBytes, X509Certificate } from "node:crypto";
import forge from "node-forge";
import type { KubeClient, SecretData, WatchHandle } from "../kube/types.js";
import type { Logger } from "../log.js";

export interface ServingCert {
  cert: string;
  key: string;
  /** The CA a tenant's kubeconfig trusts (the issuing CA, or the certificate itself). */
  ca: string;
}

export const GENERATED_SECRET_NAME = "slumber-proxy-tls";
const VALIDITY_YEARS = 10;

function forgeCert(
  subject: string,
  publicKeyPem: string,
  issuer: { cert: forge.pki.Certificate | null; keyPem: string },
  extensions: object[],
  now: number,
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  cert.serialNumber = `01${randomBytes(15).toString("hex")}`;
  cert.validity.notBefore = new Date(now - 60_000);
  cert.validity.notAfter = new Date(now + VALIDITY_YEARS * 365 * 86_400_000);
  const attrs = [{ name: "commonName", value: subject }];
  cert.setSubject(attrs);
  cert.setIssuer(issuer.cert ? issuer.cert.subject.attributes : attrs);
  cert.setExtensions(extensions);
  cert.sign(forge.pki.privateKeyFromPem(issuer.keyPem), forge.md.sha256.create());
  return cert;
}

const rsaKeyPair = () =>
  generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs1", format: "pem" },
  });

/** A CA and a serving certificate for `hosts` (DNS names and IP addresses), signed by it. */
export function generateServingCert(hosts: readonly string[], now: number): ServingCert {
  const caKeys = rsaKeyPair();
  const ca = forgeCert(
    "slumber-proxy-ca",
    caKeys.publicKey,
    { cert: null, keyPem: caKeys.privateKey },
    [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    ],
    now,
  );
  const leafKeys = rsaKeyPair();
  const altNames = hosts.map((host) =>
    /^[\d.]+$/.test(host) || host.includes(":") ? { type: 7, ip: host } : { type: 2, value: host },
  );
  const leaf = forgeCert(
    "slumber-proxy",
    leafKeys.publicKey,
    { cert: ca, keyPem: caKeys.privateKey },
    [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      { name: "subjectAltName", altNames },
    ],
    now,
  );
  return {
    cert: forge.pki.certificateToPem(leaf),
    key: leafKeys.privateKey,
    ca: forge.pki.certificateToPem(ca),
  };
}

/** A usable certificate from a Secret's data, or the reason it is not one. */
export function servingCertFrom(data: SecretData, secret: string): ServingCert | string {
  const cert = data["tls.crt"]?.toString("utf8");
  const key = data["tls.key"]?.toString("utf8");
  if (!cert || !key) return `Secret ${secret} has no tls.crt and tls.key`;
  try {
    new X509Certificate(cert);
  } catch (err) {
    return `Secret ${secret}: tls.crt is not a PEM certificate (${(err as Error).message})`;
  }
  return { cert, key, ca: data["ca.crt"]?.toString("utf8") ?? cert };
}

export interface CertificateSourceOptions {
  kube: KubeClient;
  namespace: string;
  name: string;
  /** Generate and store one when the Secret does not exist (no --proxy-cert-secret). */
  generate: boolean;
  /** With `generate`: false (--dry-run) keeps a generated certificate in memory and writes no Secret. */
  store?: boolean;
  /** Names for a generated certificate. */
  hosts: readonly string[];
  logger: Logger;
  now: () => number;
}

/**
 * Resolves with the first usable certificate; `onRotate` gets later ones (cert-manager renewals).
 * Rejects with a message naming the Secret when the flag names one that is absent or unusable.
 */
export async function followServingCert(
  options: CertificateSourceOptions,
  onRotate: (cert: ServingCert) => void,
): Promise<{ cert: ServingCert; handle: WatchHandle }> {
  const { kube, namespace, name, logger } = options;
  const secret = `${namespace}/${name}`;
  let first: ServingCert | null = null;
  let firstError: string | null = null;
  let latest: SecretData | null | undefined;
  const handle = kube.watchSecret(namespace, name, (data) => {
    latest = data;
    if (data === null) return;
    const cert = servingCertFrom(data, secret);
    if (typeof cert === "string") {
      if (first === null) firstError = cert;
      else logger.warn({ secret }, `serving certificate not rotated: ${cert}`);
      return;
    }
    if (first === null) first = cert;
    else {
      logger.info({ secret }, "serving certificate rotated");
      onRotate(cert);
    }
  });
  await handle.synced;
  if (first === null && latest === null && options.generate) {
    const generated = generateServingCert(options.hosts, options.now());
    const data: Record<string, Buffer> = {
      "tls.crt": Buffer.from(generated.cert),
      "tls.key": Buffer.from(generated.key),
      "ca.crt": Buffer.from(generated.ca),
    };
    if (options.store === false) {
      logger.info({ secret }, "dry run: serving a generated certificate from memory; no Secret stored");
      return { cert: generated, handle };
    }
    const created = await kube.createSecret(namespace, name, data);
    if (created === "created") {
      logger.info({ secret }, "generated the proxy's serving certificate and stored it");
      first = generated;
    } else {
      // Another replica stored one first: serve that one, so all replicas agree.
      const stored = await kube.readSecret(namespace, name);
      const cert = stored ? servingCertFrom(stored, secret) : `Secret ${secret} vanished`;
      if (typeof cert === "string") firstError = cert;
      else first = cert;
    }
  }
  if (first === null) {
    await handle.stop();
    throw new Error(firstError ?? `Secret ${secret} (--proxy-cert-secret) not found`);
  }
  return { cert: first, handle };
}
