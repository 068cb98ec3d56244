import { describe, expect, it } from "vitest";
import { SecretCache } from "../../src/kube/secret-cache.js";
import { FakeKube } from "../fakes/kube.js";

describe("SecretCache", () => {
  it("serves a Secret from memory after the first read, and follows its changes", async () => {
    const kube = new FakeKube();
    kube.setSecret("ns", "s", { a: Buffer.from("1") });
    const cache = new SecretCache(kube);
    expect(await cache.get("ns", "s")).toMatchObject({ known: true, data: { a: Buffer.from("1") } });
    kube.setSecret("ns", "s", null);
    expect(await cache.get("ns", "s")).toMatchObject({ known: true, data: null });
    expect(kube.secretReads).toBe(1);
    expect(cache.size).toBe(1);
    await cache.stop();
    expect(cache.size).toBe(0);
  });

  it("tells a Secret it could not read yet (API server down) from an absent one", async () => {
    const kube = new FakeKube();
    kube.setSecret("ns", "present", { a: Buffer.from("1") });
    kube.secretsUnreachable();
    const cache = new SecretCache(kube);
    expect(await cache.get("ns", "present")).toEqual({ data: null, version: 0, known: false });
    expect(await cache.get("ns", "absent")).toEqual({ data: null, version: 0, known: false });
    kube.secretsReachable();
    expect(await cache.get("ns", "present")).toMatchObject({ known: true, data: { a: Buffer.from("1") } });
    expect(await cache.get("ns", "absent")).toMatchObject({ known: true, data: null });
  });
});
