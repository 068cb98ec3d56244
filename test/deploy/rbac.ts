// Permissions two ways: derived from the source (every client-node API call and informer path in src/),
// and read from RBAC manifests. test/deploy/rbac-drift.test.ts and helm.test.ts compare them.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { parseAllDocuments } from "yaml";

export const repoRoot = resolve(import.meta.dirname, "../..");

/** "group/resource verb", e.g. "apps/statefulsets patch", "/pods list" for the core group. */
export type Permission = string;
export const permission = (group: string, resource: string, verb: string): Permission =>
  `${group}/${resource} ${verb}`;

/** API group of each client-node API class Slumber may use; a new class must be added here on purpose. */
const API_GROUPS: Record<string, string> = {
  CoreV1Api: "",
  AppsV1Api: "apps",
  BatchV1Api: "batch",
  CoordinationV1Api: "coordination.k8s.io",
  PolicyV1Api: "policy",
  EventsV1Api: "events.k8s.io",
  NetworkingV1Api: "networking.k8s.io",
};

const VERBS: Record<string, string> = {
  list: "list",
  read: "get",
  create: "create",
  patch: "patch",
  replace: "update",
  delete: "delete",
  deleteCollection: "deletecollection",
};

export interface Derived {
  permission: Permission;
  /** Where it comes from: `file: call`. */
  source: string;
}

function plural(kind: string): string {
  const lower = kind.toLowerCase();
  if (lower.endsWith("y")) return `${lower.slice(0, -1)}ies`;
  if (lower.endsWith("s")) return `${lower}es`;
  return `${lower}s`;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

/** `listNamespacedPod` → verb list, resource pods; throws on a method it cannot map (subresources, ...). */
export function methodPermission(method: string): { verb: string; resource: string | "customObject" } {
  const match = /^(deleteCollection|list|read|create|patch|replace|delete)(.+)$/.exec(method);
  if (!match) throw new Error(`cannot map client-node method ${method} to an RBAC verb`);
  const kind = match[2]!.replace(/^Namespaced(?=[A-Z])/, "").replace(/ForAllNamespaces$/, "");
  if (/(Status|Scale|Ephemeralcontainers|Eviction|Log|Proxy\w*)$/.test(kind))
    throw new Error(`client-node method ${method} uses a subresource: add its RBAC mapping here on purpose`);
  const verb = VERBS[match[1]!]!;
  if (/^(Cluster)?CustomObject$/.test(kind)) return { verb, resource: "customObject" };
  return { verb, resource: plural(kind) };
}

/** Every permission the code in `srcDir` needs, with where each comes from. */
export function derivePermissions(srcDir = join(repoRoot, "src")): Derived[] {
  const found: Derived[] = [];
  for (const file of tsFiles(srcDir)) {
    const text = readFileSync(file, "utf8");
    const where = relative(repoRoot, file);
    // `this.core = options.kubeConfig.makeApiClient(CoreV1Api)` / `const api = kc.makeApiClient(X)`, or
    // client.ts's own `this.core = makeApiClient(kubeConfig, CoreV1Api, timeoutMs)`
    const clients = new Map<string, string>();
    for (const m of text.matchAll(
      /(?:this\.)?(\w+)\s*=\s*(?:[\w.]+\.makeApiClient\((\w+)\)|makeApiClient\([\w.]+,\s*(\w+)\s*,[^)]*\))/g,
    )) {
      clients.set(m[1]!, (m[2] ?? m[3])!);
    }
    // Custom resources are addressed through constants like `const KEDA = { group, version, plural }`.
    const customs = new Map<string, { group: string; plural: string }>();
    for (const m of text.matchAll(
      /const (\w+) = \{\s*group: "([^"]+)",\s*version: "[^"]+",\s*plural: "([^"]+)"\s*\}/g,
    )) {
      customs.set(m[1]!, { group: m[2]!, plural: m[3]! });
    }
    for (const m of text.matchAll(/(?:this\.)?(\w+)\.(\w+)\(/g)) {
      const api = clients.get(m[1]!);
      if (!api) continue;
      const method = m[2]!;
      const source = `${where}: ${api}.${method}`;
      const { verb, resource } = methodPermission(method);
      if (api === "CustomObjectsApi") {
        // The call's arguments spread one of the constants: `{ ...KEDA, namespace }`.
        const args = text.slice(m.index!, m.index! + 200);
        const spread = /\.\.\.(\w+)/.exec(args)?.[1];
        const custom = spread ? customs.get(spread) : undefined;
        if (!custom) throw new Error(`${source}: cannot tell which custom resource it addresses`);
        found.push({ permission: permission(custom.group, custom.plural, verb), source });
        continue;
      }
      const group = API_GROUPS[api];
      if (group === undefined) throw new Error(`${source}: unknown API class ${api}; add its group`);
      found.push({ permission: permission(group, resource, verb), source });
    }
    // client-node's Watch on a collection path ("/api/v1/pods", "/apis/GROUP/VERSION/RESOURCE", or a
    // custom resource's constant as `/apis/${KEDA.group}/${KEDA.version}/${KEDA.plural}`) is a watch.
    if (/\bnew Watch\(/.test(text)) {
      for (const m of text.matchAll(/"\/(?:api\/v1|apis\/([^/"]+)\/[^/"]+)\/([a-z]+)"/g))
        found.push({ permission: permission(m[1] ?? "", m[2]!, "watch"), source: `${where}: watch ${m[0]}` });
      for (const m of text.matchAll(/`\/apis\/\$\{(\w+)\.group\}\/\$\{\w+\.version\}\/\$\{\w+\.plural\}`/g)) {
        const custom = customs.get(m[1]!);
        if (!custom) throw new Error(`${where}: watch of ${m[0]}: cannot tell which custom resource it is`);
        found.push({
          permission: permission(custom.group, custom.plural, "watch"),
          source: `${where}: watch ${m[0]}`,
        });
      }
    }
    // Informers (makeInformer) list and watch the collection at each `path: "/apis/GROUP/VERSION/RESOURCE"`.
    if (/\bmakeInformer\b/.test(text)) {
      for (const m of text.matchAll(/path: "\/(?:api\/v1|apis\/([^/]+)\/[^/]+)\/([a-z]+)"/g)) {
        const group = m[1] ?? "";
        for (const verb of ["list", "watch"])
          found.push({ permission: permission(group, m[2]!, verb), source: `${where}: informer ${m[0]}` });
      }
    }
  }
  return found;
}

export interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface RbacObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Rule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

export function parseManifests(text: string): RbacObject[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as RbacObject | null)
    .filter((o): o is RbacObject => o !== null && typeof o === "object");
}

/** Rules expanded to one permission per (group, resource, verb); resourceNames kept alongside. */
export function expandRules(rules: Rule[]): Map<Permission, string[] | "any"> {
  const out = new Map<Permission, string[] | "any">();
  for (const rule of rules) {
    for (const group of rule.apiGroups ?? [])
      for (const resource of rule.resources ?? [])
        for (const verb of rule.verbs ?? []) {
          const key = permission(group, resource, verb);
          const names = rule.resourceNames && rule.resourceNames.length > 0 ? rule.resourceNames : "any";
          const before = out.get(key);
          out.set(key, before === "any" || names === "any" ? "any" : [...(before ?? []), ...names]);
        }
  }
  return out;
}

/** ClusterRole and Role rules of a rendered install, by kind. */
export function rbacOf(objects: RbacObject[]): { clusterRole: Rule[]; role: Rule[]; objects: RbacObject[] } {
  const rbac = objects.filter((o) =>
    ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount"].includes(o.kind),
  );
  return {
    clusterRole: objects.filter((o) => o.kind === "ClusterRole").flatMap((o) => o.rules ?? []),
    role: objects.filter((o) => o.kind === "Role").flatMap((o) => o.rules ?? []),
    objects: rbac,
  };
}
