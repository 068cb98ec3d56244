// Which virtual cluster a request is for, from its path (`/vcluster/NS/NAME/...`) or its host
// (`NAME.NS.BASE-DOMAIN`). Pure: no I/O, no route table; hostile input is an error value, never a throw.
import { badRequest, notFound, type ProxyStatus } from "./status.js";

export const PATH_PREFIX = "/vcluster/";

export interface RequestTarget {
  namespace: string;
  name: string;
  /** The path and query to send upstream (always starts with `/`). */
  upstreamPath: string;
  via: "path" | "host";
}

/** DNS-1123 label: what a namespace and a vcluster release are. */
const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** Encoded `/`, `\` and `.`, and raw backslashes: a path that means something else once decoded. */
const SUSPICIOUS = /%2f|%5c|%2e|\\|%00/i;

/** Rejects dot segments and encoded separators in the path part (the query may encode anything). */
function checkPath(path: string): ProxyStatus | null {
  if (!path.startsWith("/")) return badRequest(`request path "${truncate(path)}" must start with "/"`);
  if (SUSPICIOUS.test(path)) return badRequest(`request path "${truncate(path)}" holds an encoded separator`);
  for (const segment of path.split("/")) {
    if (segment === "." || segment === "..")
      return badRequest(`request path "${truncate(path)}" holds a dot segment`);
  }
  return null;
}

const truncate = (text: string): string => (text.length > 120 ? `${text.slice(0, 120)}...` : text);

/** `Host` without its port, lower-cased; IPv6 literals are never a cluster name. */
function hostName(host: string): string {
  const colon = host.lastIndexOf(":");
  const bare = colon > 0 && !host.endsWith("]") ? host.slice(0, colon) : host;
  return bare.toLowerCase().replace(/\.$/, "");
}

/**
 * The request's cluster and upstream path. Host routing applies when `baseDomain` is set and the host is
 * `NAME.NS.BASE`; otherwise the path must be `/vcluster/NS/NAME[/...]`.
 */
export function parseTarget(
  rawUrl: string,
  host: string | undefined,
  baseDomain: string | undefined,
): RequestTarget | ProxyStatus {
  const queryAt = rawUrl.indexOf("?");
  const path = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
  const query = queryAt === -1 ? "" : rawUrl.slice(queryAt);
  const invalid = checkPath(path);
  if (invalid) return invalid;

  if (baseDomain && host) {
    const base = baseDomain.toLowerCase().replace(/^\.|\.$/g, "");
    const name = hostName(host);
    if (name.endsWith(`.${base}`)) {
      const labels = name.slice(0, -(base.length + 1)).split(".");
      const [cluster, namespace] = labels;
      if (labels.length !== 2 || !cluster || !namespace || !LABEL.test(cluster) || !LABEL.test(namespace))
        return notFound(`host "${truncate(name)}" is not NAME.NAMESPACE.${base}`);
      return { namespace, name: cluster, upstreamPath: path + query, via: "host" };
    }
  }

  if (!path.startsWith(PATH_PREFIX))
    return notFound(
      `no virtual cluster at "${truncate(path)}": use ${PATH_PREFIX}NAMESPACE/NAME/...${baseDomain ? ` or the host NAME.NAMESPACE.${baseDomain}` : ""}`,
    );
  const rest = path.slice(PATH_PREFIX.length);
  const [namespace = "", name = ""] = rest.split("/", 2);
  if (!LABEL.test(namespace) || !LABEL.test(name))
    return notFound(
      `"${truncate(path)}" does not name a virtual cluster as ${PATH_PREFIX}NAMESPACE/NAME/...`,
    );
  const tail = rest.slice(namespace.length + 1 + name.length);
  return { namespace, name, upstreamPath: (tail === "" ? "/" : tail) + query, via: "path" };
}

/** The path without its query, for rules that look at the path only. */
export const pathOnly = (upstreamPath: string): string => {
  const queryAt = upstreamPath.indexOf("?");
  return queryAt === -1 ? upstreamPath : upstreamPath.slice(0, queryAt);
};
