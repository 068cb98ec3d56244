import { X509Certificate } from "node:crypto";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { followServingCert, GENERATED_SECRET_NAME, generateServingCert } from "../../src/proxy/tls.js";
import { FakeKube } from "../fakes/kube.js";

const logger = pino({ level: "silent" });
const options = (kube: FakeKube, generate: boolean, name = GENERATED_SECRET_NAME) => ({
  kube,
  namespace: "slumber",
  name,
  generate,
  hosts: ["localhost", "127.0.0.1", "slumber.slumber.svc"],
  logger,
  now: () => Date.now(),
});

describe("serving certificate", () => {
  it("generates a CA and a certificate for the given names", () => {
    const cert = generateServingCert(["localhost", "127.0.0.1"], Date.now());
    const leaf = new X509Certificate(cert.cert);
    const ca = new X509Certificate(cert.ca);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.subjectAltName).toContain("DNS:localhost");
    expect(leaf.subjectAltName).toContain("IP Address:127.0.0.1");
    expect(ca.ca).toBe(true);
  });

  it("stores a generated certificate once, and a second replica serves the same one", async () => {
    const kube = new FakeKube();
    const first = await followServingCert(options(kube, true), () => undefined);
    const second = await followServingCert(options(kube, true), () => undefined);
    expect(second.cert).toEqual(first.cert);
    expect(kube.secrets.get(`slumber/${GENERATED_SECRET_NAME}`)?.["ca.crt"]?.toString()).toBe(first.cert.ca);
    await first.handle.stop();
    await second.handle.stop();
  });

  it("follows a Secret given by flag (cert-manager renewals) and names it when it is absent or unusable", async () => {
    const kube = new FakeKube();
    await expect(followServingCert(options(kube, false, "mine"), () => undefined)).rejects.toThrow(
      "Secret slumber/mine (--proxy-cert-secret) not found",
    );
    kube.setSecret("slumber", "mine", { "tls.crt": Buffer.from("nope") });
    await expect(followServingCert(options(kube, false, "mine"), () => undefined)).rejects.toThrow(
      "Secret slumber/mine has no tls.crt and tls.key",
    );
    const v1 = generateServingCert(["localhost"], Date.now());
    kube.setSecret("slumber", "mine", { "tls.crt": Buffer.from(v1.cert), "tls.key": Buffer.from(v1.key) });
    const rotated: string[] = [];
    const followed = await followServingCert(options(kube, false, "mine"), (cert) => rotated.push(cert.cert));
    expect(followed.cert.cert).toBe(v1.cert);
    const v2 = generateServingCert(["localhost"], Date.now());
    kube.setSecret("slumber", "mine", {
      "tls.crt": Buffer.from(v2.cert),
      "tls.key": Buffer.from(v2.key),
      "ca.crt": Buffer.from(v2.ca),
    });
    expect(rotated).toEqual([v2.cert]);
    await followed.handle.stop();
  });
});
