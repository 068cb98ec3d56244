import { createPrivateKey, X509Certificate } from "node:crypto";
import { SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import {
  authenticate,
  type ClusterCerts,
  parseClusterCerts,
  VerifiedTokens,
} from "../../src/proxy/credentials.js";
import { type ClusterPki, certsSecret, clusterPki, issue } from "./pki.js";

let a: ClusterPki;
let b: ClusterPki;
let certsA: ClusterCerts;

beforeAll(() => {
  a = clusterPki("a");
  b = clusterPki("b");
  certsA = parseClusterCerts(certsSecret(a)).certs;
});

const now = () => Date.now();
const peer = (pem: string) => new X509Certificate(pem);
const token = (pki: ClusterPki, claims: Record<string, unknown> = {}, expiresIn = "10m") =>
  new SignJWT({ sub: "system:serviceaccount:default:builder", ...claims })
    .setProtectedHeader({ alg: "RS256" })
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(createPrivateKey(pki.sa.privateKey));

describe("authenticate", () => {
  it("accepts a client certificate from the cluster's own client CA, with CN as user and O as groups", async () => {
    expect(
      await authenticate(
        { authorization: undefined, peerCertificate: peer(a.tenant.cert) },
        "vc-a/a",
        certsA,
        now(),
        new VerifiedTokens(),
      ),
    ).toEqual({
      kind: "certificate",
      user: "alice",
      groups: ["system:masters", "dev"],
    });
  });

  it("rejects another cluster's tenant certificate, even when the CAs share a subject", async () => {
    const twin = issue({ cn: "a-client-ca", ca: true });
    const mallory = issue({ cn: "alice", groups: ["system:masters"], client: true }, twin);
    for (const cert of [b.tenant.cert, mallory.cert]) {
      const result = await authenticate(
        { authorization: undefined, peerCertificate: peer(cert) },
        "vc-a/a",
        certsA,
        now(),
        new VerifiedTokens(),
      );
      expect(result).toMatchObject({
        code: 401,
        message: expect.stringContaining("not signed by this virtual cluster's client CA"),
      });
    }
  });

  it("rejects an expired client certificate and one not meant for client authentication", async () => {
    const expired = issue({ cn: "old", client: true, notAfter: new Date(Date.now() - 1000) }, a.clientCa);
    const serving = issue({ cn: "srv", hosts: ["x"] }, a.clientCa);
    const verified = new VerifiedTokens();
    expect(
      await authenticate(
        { authorization: undefined, peerCertificate: peer(expired.cert) },
        "vc-a/a",
        certsA,
        now(),
        verified,
      ),
    ).toMatchObject({ code: 401, message: expect.stringContaining("expired") });
    expect(
      await authenticate(
        { authorization: undefined, peerCertificate: peer(serving.cert) },
        "vc-a/a",
        certsA,
        now(),
        verified,
      ),
    ).toMatchObject({ code: 401, message: expect.stringContaining("client authentication") });
  });

  it("checks service-account tokens offline with sa.pub: own key passes, another's and an expired one fail", async () => {
    const verified = new VerifiedTokens();
    const input = (jwt: string) => ({ authorization: `Bearer ${jwt}`, peerCertificate: undefined });
    expect(await authenticate(input(await token(a)), "vc-a/a", certsA, now(), verified)).toEqual({
      kind: "bearer",
    });
    const foreign = await authenticate(input(await token(b)), "vc-a/a", certsA, now(), verified);
    expect(foreign).toMatchObject({ code: 401, message: expect.stringContaining("not signed") });
    const expired = await authenticate(input(await token(a, {}, "-1m")), "vc-a/a", certsA, now(), verified);
    expect(expired).toMatchObject({ code: 401, message: expect.stringContaining("expired") });
  });

  it("never puts the token in a message", async () => {
    const jwt = await token(b);
    const result = await authenticate(
      { authorization: `Bearer ${jwt}`, peerCertificate: undefined },
      "vc-a/a",
      certsA,
      now(),
      new VerifiedTokens(),
    );
    expect(JSON.stringify(result)).not.toContain(jwt.split(".")[1]);
  });

  it("passes other bearer tokens through (the API server checks them), refuses other schemes and no credential", async () => {
    const verified = new VerifiedTokens();
    expect(
      await authenticate(
        { authorization: "Bearer opaque-static-token", peerCertificate: undefined },
        "vc-a/a",
        certsA,
        now(),
        verified,
      ),
    ).toEqual({ kind: "bearer" });
    expect(
      await authenticate(
        { authorization: "Basic YTpi", peerCertificate: undefined },
        "vc-a/a",
        certsA,
        now(),
        verified,
      ),
    ).toMatchObject({ code: 401 });
    expect(
      await authenticate(
        { authorization: undefined, peerCertificate: undefined },
        "vc-a/a",
        certsA,
        now(),
        verified,
      ),
    ).toMatchObject({ code: 401, message: expect.stringContaining("no credentials") });
  });

  it("cannot verify without the cluster's Secret: 401 naming it", async () => {
    expect(
      await authenticate(
        { authorization: undefined, peerCertificate: peer(a.tenant.cert) },
        "vc-a/a",
        null,
        now(),
        new VerifiedTokens(),
      ),
    ).toMatchObject({ code: 401, message: expect.stringContaining("vc-a/a-certs") });
  });

  it("parses NAME-certs and reports a malformed item instead of throwing", () => {
    const { certs, problems } = parseClusterCerts({ ...certsSecret(a), "sa.pub": Buffer.from("not a key") });
    expect(certs.clientCas).toHaveLength(1);
    expect(certs.serviceAccountKey).toBeNull();
    expect(certs.frontProxy).not.toBeNull();
    expect(problems[0]).toMatch(/^sa.pub: /);
  });
});
