import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  derivePermissions,
  expandRules,
  methodPermission,
  parseManifests,
  permission,
  rbacOf,
  repoRoot,
} from "./rbac.js";

const manifests = parseManifests(readFileSync(join(repoRoot, "deploy/base/rbac.yaml"), "utf8"));
const { clusterRole, role } = rbacOf(manifests);
const derived = derivePermissions();
const derivedSet = new Set(derived.map((d) => d.permission));

/** Resources used only in the agent's own namespace: granted by the Role, never cluster-wide. */
const OWN_NAMESPACE = new Set(["coordination.k8s.io/leases"]);

/** Written only in the agent's own namespace (the Role): the wake proxy's serving certificate. */
const OWN_NAMESPACE_PERMISSIONS = new Set([permission("", "secrets", "create")]);
const ownNamespace = (p: string) => OWN_NAMESPACE.has(resourceOf(p)) || OWN_NAMESPACE_PERMISSIONS.has(p);

const sorted = (values: Iterable<string>) => [...new Set(values)].sort();
const resourceOf = (p: string) => p.split(" ")[0]!;

describe("RBAC matches the API calls in src/ (deploy/base/rbac.yaml)", () => {
  it("finds the calls it should: every KubeClient write and every informer", () => {
    // A parser that silently found nothing would make the comparisons below pass vacuously.
    for (const p of [
      permission("apps", "statefulsets", "patch"),
      permission("apps", "deployments", "watch"),
      permission("", "pods", "delete"),
      permission("", "secrets", "get"),
      permission("keda.sh", "scaledobjects", "patch"),
      permission("coordination.k8s.io", "leases", "update"),
    ])
      expect(derivedSet).toContain(p);
  });

  it("the ClusterRole grants exactly what the code calls outside its own namespace", () => {
    const granted = expandRules(clusterRole);
    const needed = sorted([...derivedSet].filter((p) => !ownNamespace(p)));
    const unused = sorted([...granted.keys()].filter((p) => !derivedSet.has(p)));
    const missing = needed.filter((p) => !granted.has(p));
    expect({ missing, unused }).toEqual({ missing: [], unused: [] });
  });

  it("the Role grants the Lease calls and the proxy's Secret create, by name where the API allows", () => {
    const granted = expandRules(role);
    const needed = sorted([...derivedSet].filter(ownNamespace));
    expect(sorted(granted.keys())).toEqual(needed);
    for (const [p, names] of granted) {
      // create cannot be restricted by name (the object has none yet); every other verb is.
      if (p.endsWith(" create")) expect(names, p).toBe("any");
      else expect(names, p).not.toBe("any");
    }
    expect(granted.get(permission("coordination.k8s.io", "leases", "update"))).toEqual(["slumber"]);
  });

  it("no wildcard verb, resource or group; Secrets are never written outside the agent's namespace", () => {
    for (const rule of [...clusterRole, ...role]) {
      for (const value of [...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...(rule.verbs ?? [])])
        expect(value).not.toContain("*");
      expect(rule.nonResourceURLs).toBeUndefined();
    }
    // Reading Secrets cluster-wide (get, list, watch) is what the cache and the proxy need (README "RBAC":
    // vc-config-NAME and NAME-certs have per-cluster names); writing them is for the proxy's own only.
    const clusterWide = [...expandRules(clusterRole).keys()].filter((p) => p.startsWith("/secrets "));
    expect(clusterWide.sort()).toEqual(["/secrets get", "/secrets list", "/secrets watch"]);
  });

  it("the bindings give the ServiceAccount the ClusterRole and the Role in its own namespace", () => {
    const sa = manifests.find((o) => o.kind === "ServiceAccount")!;
    for (const binding of manifests.filter((o) => o.kind.endsWith("Binding"))) {
      expect(binding.subjects).toEqual([
        { kind: "ServiceAccount", name: sa.metadata.name, namespace: sa.metadata.namespace },
      ]);
      const target = manifests.find(
        (o) => o.kind === binding.roleRef?.kind && o.metadata.name === binding.roleRef.name,
      );
      expect(target, `${binding.kind} ${binding.metadata.name} → ${binding.roleRef?.name}`).toBeDefined();
    }
    expect(manifests.find((o) => o.kind === "Role")?.metadata.namespace).toBe(sa.metadata.namespace);
  });
});

describe("methodPermission", () => {
  it.each([
    ["listNamespacedPod", "list", "pods"],
    ["listStatefulSetForAllNamespaces", "list", "statefulsets"],
    ["readNamespace", "get", "namespaces"],
    ["patchNamespace", "patch", "namespaces"],
    ["readNamespacedSecret", "get", "secrets"],
    ["replaceNamespacedLease", "update", "leases"],
    ["deleteCollectionNamespacedPod", "deletecollection", "pods"],
    ["createNamespacedEvent", "create", "events"],
    ["patchNamespacedCustomObject", "patch", "customObject"],
    ["listNetworkPolicyForAllNamespaces", "list", "networkpolicies"],
  ])("%s → %s %s", (method, verb, resource) => {
    expect(methodPermission(method)).toEqual({ verb, resource });
  });

  it.each(["patchNamespacedStatefulSetScale", "readNamespacedPodLog", "replaceNamespacedDeploymentStatus"])(
    "refuses subresource %s until it is mapped on purpose",
    (method) => {
      expect(() => methodPermission(method)).toThrow(/subresource/);
    },
  );
});
