// Test PKI: CAs, serving and client certificates, and service-account keys, made with node-forge.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import forge from "node-forge";

export interface Issued {
  cert: string;
  key: string;
}

const keyPair = () =>
  generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs1", format: "pem" },
  });

export interface CertSpec {
  cn: string;
  groups?: string[];
  ca?: boolean;
  /** DNS names / IPs: a serving certificate. */
  hosts?: string[];
  client?: boolean;
  notAfter?: Date;
  notBefore?: Date;
}

/** Issues a certificate signed by `issuer` (self-signed when absent). */
export function issue(spec: CertSpec, issuer?: Issued): Issued {
  const keys = keyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKey);
  cert.serialNumber = `01${randomBytes(8).toString("hex")}`;
  cert.validity.notBefore = spec.notBefore ?? new Date(Date.now() - 3_600_000);
  cert.validity.notAfter = spec.notAfter ?? new Date(Date.now() + 86_400_000);
  const subject = [
    ...(spec.groups ?? []).map((value) => ({ name: "organizationName", value })),
    { name: "commonName", value: spec.cn },
  ];
  cert.setSubject(subject);
  const issuerCert = issuer ? forge.pki.certificateFromPem(issuer.cert) : null;
  cert.setIssuer(issuerCert ? issuerCert.subject.attributes : subject);
  const extensions: object[] = [];
  if (spec.ca) {
    extensions.push({ name: "basicConstraints", cA: true, critical: true });
    extensions.push({ name: "keyUsage", keyCertSign: true, critical: true });
  } else {
    extensions.push({ name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true });
    extensions.push({
      name: "extKeyUsage",
      serverAuth: Boolean(spec.hosts),
      clientAuth: Boolean(spec.client),
    });
  }
  if (spec.hosts)
    extensions.push({
      name: "subjectAltName",
      altNames: spec.hosts.map((h) => (/^[\d.]+$/.test(h) ? { type: 7, ip: h } : { type: 2, value: h })),
    });
  cert.setExtensions(extensions);
  cert.sign(forge.pki.privateKeyFromPem(issuer?.key ?? keys.privateKey), forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keys.privateKey };
}

/** Everything a virtual cluster's `NAME-certs` Secret holds, plus a tenant's client certificate. */
export interface ClusterPki {
  serverCa: Issued;
  serving: Issued;
  clientCa: Issued;
  frontProxyCa: Issued;
  frontProxyClient: Issued;
  tenant: Issued;
  sa: { publicKey: string; privateKey: string };
}

export function clusterPki(name: string): ClusterPki {
  const serverCa = issue({ cn: `${name}-ca`, ca: true });
  const clientCa = issue({ cn: `${name}-client-ca`, ca: true });
  const frontProxyCa = issue({ cn: `${name}-front-proxy-ca`, ca: true });
  const sa = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  return {
    serverCa,
    serving: issue({ cn: "kube-apiserver", hosts: ["127.0.0.1", "localhost"] }, serverCa),
    clientCa,
    frontProxyCa,
    frontProxyClient: issue({ cn: "front-proxy-client", client: true }, frontProxyCa),
    tenant: issue({ cn: "alice", groups: ["system:masters", "dev"], client: true }, clientCa),
    sa,
  };
}

/** The `NAME-certs` Secret data vcluster lays out. */
export function certsSecret(pki: ClusterPki): Record<string, Buffer> {
  return {
    "ca.crt": Buffer.from(pki.serverCa.cert),
    "client-ca.crt": Buffer.from(pki.clientCa.cert),
    "front-proxy-ca.crt": Buffer.from(pki.frontProxyCa.cert),
    "front-proxy-client.crt": Buffer.from(pki.frontProxyClient.cert),
    "front-proxy-client.key": Buffer.from(pki.frontProxyClient.key),
    "sa.pub": Buffer.from(pki.sa.publicKey),
    "sa.key": Buffer.from(pki.sa.privateKey),
  };
}
