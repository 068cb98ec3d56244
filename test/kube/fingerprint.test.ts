import { describe, expect, it } from "vitest";
import { specFingerprint } from "../../src/kube/fingerprint.js";

const spec = (replicas: number, image: string) => ({
  replicas,
  selector: { matchLabels: { app: "web" } },
  template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "web", image }] } },
});

describe("specFingerprint", () => {
  it("ignores the omitted fields (what an autoscaler or a sleep writes)", () => {
    expect(specFingerprint(spec(1, "nginx"), ["replicas"])).toBe(
      specFingerprint(spec(7, "nginx"), ["replicas"]),
    );
  });
  it("changes with the pod template (a deploy)", () => {
    expect(specFingerprint(spec(1, "nginx"), ["replicas"])).not.toBe(
      specFingerprint(spec(1, "nginx:1.27"), ["replicas"]),
    );
  });
  it("does not depend on key order", () => {
    const a = { template: { b: 1, a: [{ y: 2, x: 1 }] }, paused: false };
    const b = { paused: false, template: { a: [{ x: 1, y: 2 }], b: 1 } };
    expect(specFingerprint(a, [])).toBe(specFingerprint(b, []));
  });
  it("tells a missing spec from an empty one only by content", () => {
    expect(specFingerprint(undefined, [])).toBe(specFingerprint({}, []));
  });
});
