// `slumber kubeconfig NS/NAME`: a tenant kubeconfig that reaches a virtual cluster through the wake
// proxy (path routing /vcluster/NS/NAME), trusting the proxy's CA, with the credential vcluster put
// in Secret vc-NAME. Nothing here is logged: the output carries a private key or a token.
import { parse, stringify } from "yaml";
import type { ControlPlane } from "../kube/types.js";
import { CliError, ExitCode } from "./errors.js";
import { parseTargetArgument } from "./wake-sleep.js";

export const DEFAULT_PROXY_URL = "https://127.0.0.1:8443";
/** Where `slumber run` keeps the proxy's serving certificate; `ca.crt` is the CA tenants trust. */
export const DEFAULT_PROXY_TLS_SECRET = "slumber-proxy-tls";
export const DEFAULT_AGENT_NAMESPACE = "slumber-system";

/** What the command reads; the CLI wires the API server, tests the fake. */
export interface KubeconfigSources {
  getControlPlane(namespace: string, release: string): Promise<ControlPlane | null>;
  /** A Secret's data, decoded; null when there is no such Secret. */
  readSecret(namespace: string, name: string): Promise<Record<string, string> | null>;
  readFile(path: string): string;
}

export interface KubeconfigOptions {
  /** `NS/NAME` as typed. */
  target: string;
  /** Base URL of the proxy; `/vcluster/NS/NAME` is appended. */
  proxyUrl: string;
  /** PEM file with the proxy's CA; instead of the Secret. */
  proxyCaFile?: string;
  /** The agent's namespace, where the proxy's TLS Secret lives. */
  agentNamespace: string;
  proxyTlsSecret: string;
}

export interface KubeconfigResult {
  yaml: string;
  /** For stderr: things the user should know, never a credential. */
  warnings: string[];
}

/** The credential of a kubeconfig user that a tenant kubeconfig can carry (inline only). */
type Credential = { "client-certificate-data": string; "client-key-data": string } | { token: string };

interface KubeconfigUser {
  name?: string;
  user?: Record<string, unknown>;
}

/** Validates `--proxy-url`: an https URL without query or fragment; a usage error otherwise. */
export function proxyServer(proxyUrl: string, namespace: string, name: string): string {
  let url: URL;
  try {
    url = new URL(proxyUrl);
  } catch {
    throw new CliError(`--proxy-url: "${proxyUrl}" is not a URL (e.g. ${DEFAULT_PROXY_URL})`, ExitCode.usage);
  }
  if (url.protocol !== "https:")
    throw new CliError(`--proxy-url: "${proxyUrl}" must be https (the proxy terminates TLS)`, ExitCode.usage);
  if (url.search || url.hash || url.username || url.password)
    throw new CliError(
      `--proxy-url: "${proxyUrl}" must not carry credentials, a query or a fragment`,
      ExitCode.usage,
    );
  const base = url.pathname.replace(/\/+$/, "");
  return `${url.origin}${base}/vcluster/${namespace}/${name}`;
}

/** The inline credential of vc-NAME's current user (client certificate, else token). */
export function credentialOf(kubeconfigYaml: string, where: string): Credential {
  let doc: {
    users?: KubeconfigUser[];
    contexts?: { name?: string; context?: { user?: string } }[];
    "current-context"?: string;
  };
  try {
    doc = (parse(kubeconfigYaml) ?? {}) as typeof doc;
  } catch (error) {
    throw new CliError(`${where} is not a kubeconfig: ${(error as Error).message}`, ExitCode.failure);
  }
  const userName = doc.contexts?.find((c) => c.name === doc["current-context"])?.context?.user;
  const users = doc.users ?? [];
  const user = (users.find((u) => u.name === userName) ?? users[0])?.user;
  if (!user) throw new CliError(`${where} has no user`, ExitCode.failure);
  const cert = user["client-certificate-data"];
  const key = user["client-key-data"];
  if (typeof cert === "string" && cert && typeof key === "string" && key)
    return { "client-certificate-data": cert, "client-key-data": key };
  const token = user.token;
  if (typeof token === "string" && token) return { token };
  throw new CliError(
    `${where}: its user has no inline client certificate and key or token (found: ${Object.keys(user).join(", ") || "nothing"})`,
    ExitCode.failure,
  );
}

/** Builds the tenant kubeconfig; throws CliError (2 for bad input, 1 for anything not found). */
export async function tenantKubeconfig(
  opts: KubeconfigOptions,
  src: KubeconfigSources,
): Promise<KubeconfigResult> {
  const { namespace, name } = parseTargetArgument(opts.target);
  const server = proxyServer(opts.proxyUrl, namespace, name);
  const warnings: string[] = [];

  let proxyCa: string | undefined;
  if (opts.proxyCaFile) {
    try {
      proxyCa = src.readFile(opts.proxyCaFile);
    } catch (error) {
      throw new CliError(
        `--proxy-ca-file: cannot read ${opts.proxyCaFile}: ${(error as Error).message}`,
        ExitCode.usage,
      );
    }
    if (!proxyCa.includes("-----BEGIN CERTIFICATE-----"))
      throw new CliError(`--proxy-ca-file: ${opts.proxyCaFile} holds no PEM certificate`, ExitCode.usage);
  }

  const plane = await src.getControlPlane(namespace, name);
  if (!plane) throw new CliError(`no virtual cluster ${name} in namespace ${namespace}`, ExitCode.failure);

  const vcSecret = `vc-${name}`;
  const vc = await src.readSecret(namespace, vcSecret);
  if (!vc) {
    throw new CliError(
      `Secret ${namespace}/${vcSecret} not found: vcluster writes it when the virtual cluster first starts`,
      ExitCode.failure,
    );
  }
  if (!vc.config) throw new CliError(`Secret ${namespace}/${vcSecret} has no key "config"`, ExitCode.failure);
  const credential = credentialOf(vc.config, `Secret ${namespace}/${vcSecret} (key config)`);

  if (proxyCa === undefined) {
    const tls = await src.readSecret(opts.agentNamespace, opts.proxyTlsSecret);
    if (!tls) {
      throw new CliError(
        `Secret ${opts.agentNamespace}/${opts.proxyTlsSecret} not found: is slumber run serving the proxy ` +
          "(--proxy-port) in that namespace? Pass --namespace, --proxy-tls-secret or --proxy-ca-file",
        ExitCode.failure,
      );
    }
    proxyCa = tls["ca.crt"] || undefined;
    if (!proxyCa) {
      warnings.push(
        `Secret ${opts.agentNamespace}/${opts.proxyTlsSecret} has no ca.crt; the kubeconfig trusts the system's CAs for ${server}`,
      );
    }
  }

  const id = `${namespace}/${name}`;
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: id,
        cluster: {
          server,
          ...(proxyCa ? { "certificate-authority-data": Buffer.from(proxyCa).toString("base64") } : {}),
        },
      },
    ],
    users: [{ name: id, user: credential }],
    contexts: [{ name: id, context: { cluster: id, user: id } }],
    "current-context": id,
  };
  return { yaml: stringify(config, { lineWidth: 0 }), warnings };
}
