// `slumber run --leader-elect`: one election per process on Lease NAMESPACE/slumber, and the reconciler's
// client fenced by it.
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { KubeConfig } from "@kubernetes/client-node";
import { ApiServerLeaseStore } from "../kube/lease.js";
import type { KubeClient } from "../kube/types.js";
import type { Logger } from "../log.js";
import { LeaderElection } from "./election.js";
import { fenceWrites } from "./fence.js";

export { LeaderElection } from "./election.js";
export { fenceWrites } from "./fence.js";

/** Unique per process, readable in the Lease: the pod name (or host) and a random suffix, like client-go. */
export function electionIdentity(): string {
  return `${process.env.POD_NAME ?? hostname()}_${randomUUID().slice(0, 8)}`;
}

export function leaderElection(options: {
  kube: KubeClient;
  kubeConfig: KubeConfig;
  namespace: string;
  logger: Logger;
}): { election: LeaderElection; fencedKube: KubeClient } {
  const election = new LeaderElection({
    store: new ApiServerLeaseStore(options.kubeConfig, options.namespace),
    identity: electionIdentity(),
    logger: options.logger,
  });
  return { election, fencedKube: fenceWrites(options.kube, () => election.isLeader()) };
}
