// Review: the proxy shares one VerifiedTokens across all clusters, keyed by the token's digest only. A
// service-account token verified once for cluster A was then accepted for cluster B without B's sa.pub,
// so a credential B's API server will refuse woke B (SPEC §7: one that fails an offline check is 401, no wake).
import { createPrivateKey } from "node:crypto";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { authenticate, parseClusterCerts, VerifiedTokens } from "../../src/proxy/credentials.js";
import { certsSecret, clusterPki } from "./pki.js";

describe("service-account tokens verified for one cluster", () => {
  it("are not accepted for another cluster from the shared verified-token cache", async () => {
    const a = clusterPki("a");
    const b = clusterPki("b");
    const certsA = parseClusterCerts(certsSecret(a)).certs;
    const certsB = parseClusterCerts(certsSecret(b)).certs;
    const tokenOfA = await new SignJWT({ sub: "system:serviceaccount:default:builder" })
      .setProtectedHeader({ alg: "RS256" })
      .setIssuedAt()
      .setExpirationTime("10m")
      .sign(createPrivateKey(a.sa.privateKey));
    const verified = new VerifiedTokens();
    const input = { authorization: `Bearer ${tokenOfA}`, peerCertificate: undefined };
    expect(await authenticate(input, "vc-a/a", certsA, Date.now(), verified)).toEqual({ kind: "bearer" });
    // Without the cache, B refuses it:
    expect(await authenticate(input, "vc-b/b", certsB, Date.now(), new VerifiedTokens())).toMatchObject({
      code: 401,
    });
    // With the proxy's shared cache, B must refuse it too.
    expect(await authenticate(input, "vc-b/b", certsB, Date.now(), verified)).toMatchObject({ code: 401 });
  });
});
