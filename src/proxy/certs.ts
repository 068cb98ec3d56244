// Each routed cluster's `NAME-certs`, parsed once per change, from the kube module's in-memory cache.
import type { SecretCache } from "../kube/secret-cache.js";
import type { Logger } from "../log.js";
import { type ClusterCerts, parseClusterCerts } from "./credentials.js";

/** Secret `NAME-certs` has not been read yet (the API server was unreachable): neither present nor absent. */
export class CertsUnavailableError extends Error {
  constructor(readonly secret: string) {
    super(`Secret ${secret} cannot be read from the API server yet`);
    this.name = "CertsUnavailableError";
  }
}

export interface CertsSource {
  /** null when Secret `NAME-certs` does not exist; throws CertsUnavailableError while it cannot be read. */
  certs(namespace: string, name: string): Promise<ClusterCerts | null>;
  forget(namespace: string, name: string): void;
}

export class ClusterCertsCache implements CertsSource {
  private readonly parsed = new Map<string, { version: number; certs: ClusterCerts | null }>();
  constructor(
    private readonly secrets: SecretCache,
    private readonly logger: Logger,
  ) {}

  async certs(namespace: string, name: string): Promise<ClusterCerts | null> {
    const secretName = `${name}-certs`;
    const { data, version, known: read } = await this.secrets.get(namespace, secretName);
    // Not "no Secret": a 401 ("no client-ca.crt") would tell the tenant its credentials are wrong.
    if (!read) throw new CertsUnavailableError(`${namespace}/${secretName}`);
    const key = `${namespace}/${name}`;
    const known = this.parsed.get(key);
    if (known && known.version === version) return known.certs;
    let certs: ClusterCerts | null = null;
    if (data !== null) {
      const parsed = parseClusterCerts(data);
      certs = parsed.certs;
      for (const problem of parsed.problems)
        this.logger.warn({ secret: `${namespace}/${secretName}` }, `cannot use ${problem}`);
    }
    this.parsed.set(key, { version, certs });
    return certs;
  }

  forget(namespace: string, name: string): void {
    this.parsed.delete(`${namespace}/${name}`);
    this.secrets.forget(namespace, `${name}-certs`);
  }

  /** Clusters whose Secret is parsed and followed, for tests. */
  get size(): number {
    return this.parsed.size;
  }
}
