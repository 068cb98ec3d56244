import type { V1Container, V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { DEFAULT_PRICES, parseQuantity, podResources, podsHourlyCost } from "../../src/metrics/cost.js";

const GIB = 1024 ** 3;

function pod(
  name: string,
  containers: V1Container[],
  extra: Partial<V1Pod["spec"]> = {},
  phase = "Running",
): V1Pod {
  return {
    metadata: { name, namespace: "vcluster-team-a" },
    spec: { containers, ...extra },
    status: { phase },
  };
}

// vcluster 0.2x control plane defaults: syncer requests 200m/256Mi, memory limit 2Gi, ephemeral storage.
const controlPlane = pod("team-a-0", [
  {
    name: "syncer",
    image: "ghcr.io/loft-sh/vcluster-pro:0.26.0",
    resources: {
      requests: { cpu: "200m", memory: "256Mi", "ephemeral-storage": "400Mi" },
      limits: { memory: "2Gi", "ephemeral-storage": "8Gi" },
    },
  },
]);

// Synced CoreDNS: requests 20m/64Mi, limits 1 CPU/170Mi.
const coredns = pod("coredns-5d8f7b9b6c-x2k9p-x-kube-system-x-team-a", [
  {
    name: "coredns",
    resources: { requests: { cpu: "20m", memory: "64Mi" }, limits: { cpu: "1000m", memory: "170Mi" } },
  },
]);

describe("parseQuantity", () => {
  it.each([
    ["250m", 0.25],
    ["2", 2],
    ["1.5", 1.5],
    ["0.5Gi", 0.5 * GIB],
    ["1.5Gi", 1.5 * GIB],
    ["256Mi", 256 * 1024 ** 2],
    ["64Ki", 64 * 1024],
    ["128974848", 128974848],
    ["129e6", 129e6],
    ["129E6", 129e6],
    ["123M", 123e6],
    ["1G", 1e9],
    ["2k", 2000],
    ["100n", 100e-9],
    [".5", 0.5],
  ])("%s is %d", (quantity, expected) => {
    expect(parseQuantity(quantity)).toBeCloseTo(expected, 9);
  });

  it.each(["", "abc", "1Gb", "1 Gi", "Mi", "1.2.3"])("rejects %j", (quantity) => {
    expect(() => parseQuantity(quantity)).toThrow(/invalid resource quantity/);
  });
});

describe("podResources", () => {
  it("uses requests, and limits only where there is no request", () => {
    const p = pod("web", [
      { name: "a", resources: { requests: { cpu: "100m" }, limits: { cpu: "2", memory: "1Gi" } } },
      { name: "b", resources: { limits: { cpu: "500m" } } },
      { name: "c" },
    ]);
    expect(podResources(p)).toEqual({ cpuCores: 0.6, memoryBytes: GIB });
  });

  it("takes the larger of the biggest init container and the sum of regular containers", () => {
    const p = pod("migrate", [{ name: "app", resources: { requests: { cpu: "500m", memory: "256Mi" } } }], {
      initContainers: [
        { name: "migrate", resources: { requests: { cpu: "2", memory: "128Mi" } } },
        { name: "warm", resources: { requests: { cpu: "100m", memory: "1Gi" } } },
      ],
    });
    expect(podResources(p)).toEqual({ cpuCores: 2, memoryBytes: GIB });
  });

  it("adds sidecars (restartPolicy Always) to later init containers and to the regular sum", () => {
    const p = pod("meshed", [{ name: "app", resources: { requests: { cpu: "1", memory: "512Mi" } } }], {
      initContainers: [
        { name: "proxy", restartPolicy: "Always", resources: { requests: { cpu: "100m", memory: "128Mi" } } },
        { name: "setup", resources: { requests: { cpu: "1500m", memory: "64Mi" } } },
      ],
    });
    const { cpuCores, memoryBytes } = podResources(p);
    expect(cpuCores).toBeCloseTo(1.6, 9); // init phase: proxy 0.1 + setup 1.5 > running 1.1
    expect(memoryBytes).toBe(640 * 1024 ** 2); // running: 512Mi + 128Mi
  });

  it("adds pod overhead", () => {
    const p = pod("kata", [{ name: "app", resources: { requests: { cpu: "1", memory: "1Gi" } } }], {
      overhead: { cpu: "250m", memory: "160Mi" },
    });
    expect(podResources(p)).toEqual({ cpuCores: 1.25, memoryBytes: GIB + 160 * 1024 ** 2 });
  });

  it("names the pod, container and field of a malformed quantity", () => {
    const p = pod("broken", [{ name: "app", resources: { requests: { memory: "lots" } } }]);
    expect(() => podResources(p)).toThrow(
      'pod vcluster-team-a/broken: container app: resources.requests.memory: invalid resource quantity "lots"',
    );
  });
});

describe("podsHourlyCost", () => {
  it("prices a vcluster control plane and its synced CoreDNS at OpenCost defaults", () => {
    const cpu = 0.2 + 0.02;
    const memGiB = (256 + 64) / 1024;
    const expected = cpu * 0.031611 + memGiB * 0.004237;
    expect(podsHourlyCost([controlPlane, coredns], DEFAULT_PRICES)).toBeCloseTo(expected, 12);
    expect(expected).toBeCloseTo(0.0082784, 6);
  });

  it("uses the prices given", () => {
    const prices = { cpuCoreHour: 0.05, memoryGiBHour: 0.01, currency: "EUR" };
    const p = pod("app", [{ name: "app", resources: { requests: { cpu: "2", memory: "4Gi" } } }]);
    expect(podsHourlyCost([p], prices)).toBeCloseTo(2 * 0.05 + 4 * 0.01, 12);
  });

  it("ignores pods that have finished", () => {
    const done = pod("job-1", [{ name: "job", resources: { requests: { cpu: "4" } } }], {}, "Succeeded");
    const failed = pod("job-2", [{ name: "job", resources: { requests: { cpu: "4" } } }], {}, "Failed");
    expect(podsHourlyCost([done, failed, coredns], DEFAULT_PRICES)).toBeCloseTo(
      podsHourlyCost([coredns], DEFAULT_PRICES),
      12,
    );
  });

  it("is zero for no pods", () => {
    expect(podsHourlyCost([], DEFAULT_PRICES)).toBe(0);
  });
});
