import type { V1Container, V1Pod } from "@kubernetes/client-node";
import type { Prices } from "../config/types.js";

/** OpenCost's default on-demand prices (configs/default.json), per hour. */
export const DEFAULT_PRICES: Prices = { cpuCoreHour: 0.031611, memoryGiBHour: 0.004237, currency: "USD" };

const GIB = 1024 ** 3;

const SUFFIX_MULTIPLIER: Record<string, number> = {
  "": 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
  Pi: 1024 ** 5,
  Ei: 1024 ** 6,
};

// Kubernetes quantity grammar: signed decimal, then a binary-SI, decimal-SI or e-notation suffix.
const QUANTITY = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/;

/**
 * Parses a Kubernetes resource quantity (`250m`, `1.5Gi`, `128974848`, `129e6`, `2k`) to a plain number.
 * client-node's quantityToScalar rejects fractional binary quantities such as `1.5Gi`, hence our own.
 */
export function parseQuantity(quantity: string): number {
  const match = QUANTITY.exec(quantity.trim());
  if (!match) throw new Error(`invalid resource quantity "${quantity}"`);
  const [, number, exponent, suffix] = match;
  const value = Number(number);
  if (exponent) return value * 10 ** Number(exponent.slice(1));
  return value * (SUFFIX_MULTIPLIER[suffix ?? ""] ?? 1);
}

interface Resources {
  cpuCores: number;
  memoryBytes: number;
}

const ZERO: Resources = { cpuCores: 0, memoryBytes: 0 };

const add = (a: Resources, b: Resources): Resources => ({
  cpuCores: a.cpuCores + b.cpuCores,
  memoryBytes: a.memoryBytes + b.memoryBytes,
});

const max = (a: Resources, b: Resources): Resources => ({
  cpuCores: Math.max(a.cpuCores, b.cpuCores),
  memoryBytes: Math.max(a.memoryBytes, b.memoryBytes),
});

/** Parses an optional quantity; an error names where it came from. */
function quantityAt(quantity: string | undefined, where: string): number {
  if (quantity === undefined) return 0;
  try {
    return parseQuantity(String(quantity));
  } catch (error) {
    throw new Error(`${where}: ${(error as Error).message}`);
  }
}

/** A container's request for one resource, its limit where it has no request (SPEC §6), else 0. */
function containerResource(container: V1Container, resource: "cpu" | "memory", podName: string): number {
  const requested = container.resources?.requests?.[resource];
  const field = requested === undefined ? "limits" : "requests";
  return quantityAt(
    requested ?? container.resources?.limits?.[resource],
    `pod ${podName}: container ${container.name}: resources.${field}.${resource}`,
  );
}

function containerResources(container: V1Container, podName: string): Resources {
  return {
    cpuCores: containerResource(container, "cpu", podName),
    memoryBytes: containerResource(container, "memory", podName),
  };
}

/**
 * The resources the scheduler reserves for a pod: init containers run one at a time before the
 * regular ones, so the pod needs max(largest init container, sum of regular containers) per resource.
 * Sidecars (init containers with restartPolicy Always) keep running, so they add to every later
 * init container and to the regular sum. Pod overhead (RuntimeClass) is added on top.
 */
export function podResources(pod: V1Pod): Resources {
  const podName = `${pod.metadata?.namespace ?? ""}/${pod.metadata?.name ?? "?"}`;
  let sidecars = ZERO;
  let initPeak = ZERO;
  for (const init of pod.spec?.initContainers ?? []) {
    const own = containerResources(init, podName);
    if (init.restartPolicy === "Always") {
      sidecars = add(sidecars, own);
      initPeak = max(initPeak, sidecars);
    } else {
      initPeak = max(initPeak, add(sidecars, own));
    }
  }
  const regular = (pod.spec?.containers ?? []).reduce(
    (sum, container) => add(sum, containerResources(container, podName)),
    sidecars,
  );
  const overhead = pod.spec?.overhead ?? {};
  const overheadResources: Resources = {
    cpuCores: quantityAt(overhead.cpu, `pod ${podName}: spec.overhead.cpu`),
    memoryBytes: quantityAt(overhead.memory, `pod ${podName}: spec.overhead.memory`),
  };
  return add(max(initPeak, regular), overheadResources);
}

/** Pods that finished hold no resources on their node. */
const isRunningOrPending = (pod: V1Pod): boolean =>
  pod.status?.phase !== "Succeeded" && pod.status?.phase !== "Failed";

/**
 * Estimated cost per hour of running these pods (SPEC §6): CPU cores × CPU price + memory GiB × memory
 * price, from each container's requests (limits where no request). Finished pods cost nothing.
 * Throws, naming pod, container and field, on a malformed quantity.
 */
export function podsHourlyCost(pods: readonly V1Pod[], prices: Prices): number {
  return pods.filter(isRunningOrPending).reduce((total, pod) => {
    const { cpuCores, memoryBytes } = podResources(pod);
    return total + cpuCores * prices.cpuCoreHour + (memoryBytes / GIB) * prices.memoryGiBHour;
  }, 0);
}
