// Virtual-cluster simulator, part of the local control plane (started by up.sh, stopped by down.sh).
//
// In every namespace labelled slumber.dev/simulate=true, each StatefulSet labelled
// app=vcluster,release=NAME gets a real kube-apiserver process while it has a Ready replica, and
// that process is stopped when the StatefulSet has 0 replicas (desired or ready). The process keeps
// its data in the local etcd under /sim/NS/NAME, so it survives sleep. The simulator lays out the
// Secrets the way vcluster does (vc-NAME, NAME-certs) and records the process's loopback address
// as `slumber.dev/upstream` on the StatefulSet. Readiness of the process itself (/readyz) is the
// wake proxy's business; this program only logs it, with the process's RSS, for measurement.
//
// Run by Node 24 directly (type stripping): `node test/cluster/simulator.ts --kubeconfig ... `.
// Self-contained on purpose (Node's type stripping cannot resolve the project's `.js` imports).
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { request as httpsRequest } from "node:https";
import { createServer } from "node:net";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  type V1Namespace,
  type V1Secret,
  type V1StatefulSet,
} from "@kubernetes/client-node";

export const SIMULATE_LABEL = "slumber.dev/simulate";
export const UPSTREAM_ANNOTATION = "slumber.dev/upstream";
export const SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local";
const FRONT_PROXY_CLIENT_CN = "front-proxy-client";
const ADMIN_SUBJECT = "/O=system:masters/CN=kubernetes-super-admin";
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 30_000;
const RESYNC_MS = 5_000;

const run = promisify(execFile);

// ------------------------------------------------------------------ pure helpers (unit-tested)

/** A StatefulSet's view as the simulator needs it. */
export interface ControlPlaneView {
  namespace: string;
  stsName: string;
  /** vcluster's release name: the `release` label. */
  name: string;
  desiredReplicas: number;
  readyReplicas: number;
  upstream: string | undefined;
}

export function viewOf(sts: V1StatefulSet): ControlPlaneView | undefined {
  const labels = sts.metadata?.labels ?? {};
  const release = labels.release;
  if (labels.app !== "vcluster" || !release) return undefined;
  return {
    namespace: sts.metadata?.namespace ?? "",
    stsName: sts.metadata?.name ?? "",
    name: release,
    desiredReplicas: sts.spec?.replicas ?? 1,
    readyReplicas: sts.status?.readyReplicas ?? 0,
    upstream: sts.metadata?.annotations?.[UPSTREAM_ANNOTATION],
  };
}

/** A process runs while the control plane has a Ready replica and is not scaled to 0. */
export function wantsProcess(view: ControlPlaneView): boolean {
  return view.desiredReplicas > 0 && view.readyReplicas > 0;
}

/** The port of an upstream this simulator wrote (`https://127.0.0.1:PORT`), else undefined. */
export function portOf(upstream: string | undefined): number | undefined {
  const m = /^https:\/\/127\.0\.0\.1:(\d{1,5})$/.exec(upstream ?? "");
  if (!m) return undefined;
  const port = Number(m[1]);
  return port > 0 && port < 65536 ? port : undefined;
}

export function upstreamFor(port: number): string {
  return `https://127.0.0.1:${port}`;
}

export interface PortRange {
  first: number;
  last: number;
}

export function parsePortRange(text: string): PortRange {
  const m = /^(\d+)-(\d+)$/.exec(text.trim());
  const first = Number(m?.[1]);
  const last = Number(m?.[2]);
  if (!m || first < 1 || last > 65535 || first > last) {
    throw new Error(`invalid port range ${JSON.stringify(text)}; expected FIRST-LAST, e.g. 17000-18999`);
  }
  return { first, last };
}

/**
 * The ports to try for NS/NAME, in order: a start derived from the name (so a cluster tends to get the
 * same port on every machine), then every other port of the range, skipping ports already taken.
 */
export function portCandidates(key: string, range: PortRange, taken: ReadonlySet<number>): number[] {
  const size = range.last - range.first + 1;
  const start = createHash("sha256").update(key).digest().readUInt32BE(0) % size;
  const out: number[] = [];
  for (let i = 0; i < size; i++) {
    const port = range.first + ((start + i) % size);
    if (!taken.has(port)) out.push(port);
  }
  return out;
}

/** A client-certificate kubeconfig, as vcluster writes into vc-NAME (key `config`) and admin.conf. */
export function kubeconfigYaml(server: string, caCrt: string, clientCrt: string, clientKey: string): string {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: my-vcluster",
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${b64(caCrt)}`,
    "users:",
    "- name: my-vcluster",
    "  user:",
    `    client-certificate-data: ${b64(clientCrt)}`,
    `    client-key-data: ${b64(clientKey)}`,
    "contexts:",
    "- name: my-vcluster",
    "  context:",
    "    cluster: my-vcluster",
    "    user: my-vcluster",
    "current-context: my-vcluster",
    "preferences: {}",
    "",
  ].join("\n");
}

/** The kube-apiserver command line for one virtual cluster (files in `pki`). */
export function apiserverArgs(opts: { etcd: string; prefix: string; port: number; pki: string }): string[] {
  const f = (name: string) => join(opts.pki, name);
  return [
    `--etcd-servers=${opts.etcd}`,
    `--etcd-prefix=${opts.prefix}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    `--secure-port=${opts.port}`,
    `--tls-cert-file=${f("apiserver.crt")}`,
    `--tls-private-key-file=${f("apiserver.key")}`,
    `--client-ca-file=${f("client-ca.crt")}`,
    "--authorization-mode=RBAC",
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    `--service-account-key-file=${f("sa.pub")}`,
    `--service-account-signing-key-file=${f("sa.key")}`,
    "--service-cluster-ip-range=10.96.0.0/16",
    `--requestheader-client-ca-file=${f("front-proxy-ca.crt")}`,
    `--requestheader-allowed-names=${FRONT_PROXY_CLIENT_CN}`,
    "--requestheader-username-headers=X-Remote-User",
    "--requestheader-group-headers=X-Remote-Group",
    "--requestheader-extra-headers-prefix=X-Remote-Extra-",
    `--proxy-client-cert-file=${f("front-proxy-client.crt")}`,
    `--proxy-client-key-file=${f("front-proxy-client.key")}`,
    // Light: no Endpoints for a loopback address, no APF (and so no flowcontrol API), no DRA API;
    // measured: ~25% less CPU to /readyz, ~20 MiB less RSS. The watch cache stays (client-go's
    // WatchList needs it).
    "--endpoint-reconciler-type=none",
    "--enable-priority-and-fairness=false",
    "--runtime-config=flowcontrol.apiserver.k8s.io/v1=false,resource.k8s.io/v1=false",
    "--profiling=false",
    "--v=1",
  ];
}

// ------------------------------------------------------------------ certificates

/** Keys of NAME-certs the simulator needs to start a process (vcluster's names, pkg/certs). */
export const REQUIRED_CERT_KEYS = [
  "ca.crt",
  "client-ca.crt",
  "apiserver.crt",
  "apiserver.key",
  "front-proxy-ca.crt",
  "front-proxy-client.crt",
  "front-proxy-client.key",
  "sa.pub",
  "sa.key",
] as const;

async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await run("openssl", args, { cwd: dir });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? "";
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim() || String(err)}`);
  }
}

/**
 * Generates the certificates vcluster keeps in NAME-certs (its default layout: one CA that is also
 * server-ca and client-ca, kubeadm subjects, so every cluster's CA is "CN=kubernetes").
 */
export async function generateCerts(
  workDir: string,
  ns: string,
  name: string,
  port: number,
): Promise<Record<string, string>> {
  const dir = mkdtempSync(join(workDir, "certs-"));
  try {
    const caExt = [
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    ];
    const selfSigned = (base: string, cn: string) =>
      openssl(dir, [
        "req",
        "-x509",
        "-new",
        "-nodes",
        "-newkey",
        "rsa:2048",
        "-keyout",
        `${base}.key`,
        "-out",
        `${base}.crt`,
        "-days",
        "3650",
        "-subj",
        `/CN=${cn}`,
        ...caExt,
      ]);
    const leaf = async (base: string, ca: string, subj: string, ext: string) => {
      await openssl(dir, [
        "req",
        "-new",
        "-nodes",
        "-newkey",
        "rsa:2048",
        "-keyout",
        `${base}.key`,
        "-out",
        `${base}.csr`,
        "-subj",
        subj,
      ]);
      writeFileSync(join(dir, `${base}.ext`), ext);
      await openssl(dir, [
        "x509",
        "-req",
        "-in",
        `${base}.csr`,
        "-CA",
        `${ca}.crt`,
        "-CAkey",
        `${ca}.key`,
        "-set_serial",
        `0x${createHash("sha256").update(`${ns}/${name}/${base}/${Date.now()}/${Math.random()}`).digest("hex").slice(0, 30)}`,
        "-out",
        `${base}.crt`,
        "-days",
        "3650",
        "-extfile",
        `${base}.ext`,
      ]);
    };
    const client = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n";
    const sans = [
      "IP:127.0.0.1",
      "DNS:localhost",
      `DNS:${name}`,
      `DNS:${name}.${ns}`,
      `DNS:${name}.${ns}.svc`,
      `DNS:${name}.${ns}.svc.cluster.local`,
      "DNS:kubernetes",
      "DNS:kubernetes.default",
      "DNS:kubernetes.default.svc",
      "DNS:kubernetes.default.svc.cluster.local",
      "IP:10.96.0.1",
    ].join(",");
    await Promise.all([selfSigned("ca", "kubernetes"), selfSigned("front-proxy-ca", "front-proxy-ca")]);
    await Promise.all([
      leaf(
        "apiserver",
        "ca",
        "/CN=kube-apiserver",
        `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${sans}\n`,
      ),
      leaf("admin", "ca", ADMIN_SUBJECT, client),
      leaf("front-proxy-client", "front-proxy-ca", `/CN=${FRONT_PROXY_CLIENT_CN}`, client),
      openssl(dir, ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key"]),
    ]);
    await openssl(dir, ["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
    const read = (file: string) => readFileSync(join(dir, file), "utf8");
    const ca = read("ca.crt");
    const caKey = read("ca.key");
    return {
      "ca.crt": ca,
      "ca.key": caKey,
      "server-ca.crt": ca,
      "server-ca.key": caKey,
      "client-ca.crt": ca,
      "client-ca.key": caKey,
      "apiserver.crt": read("apiserver.crt"),
      "apiserver.key": read("apiserver.key"),
      "front-proxy-ca.crt": read("front-proxy-ca.crt"),
      "front-proxy-ca.key": read("front-proxy-ca.key"),
      "front-proxy-client.crt": read("front-proxy-client.crt"),
      "front-proxy-client.key": read("front-proxy-client.key"),
      "sa.pub": read("sa.pub"),
      "sa.key": read("sa.key"),
      // Not a vcluster key: the admin client certificate that admin.conf and vc-NAME embed.
      "admin.crt": read("admin.crt"),
      "admin.key": read("admin.key"),
      "admin.conf": kubeconfigYaml(upstreamFor(port), ca, read("admin.crt"), read("admin.key")),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ the program

interface Options {
  kubeconfig: string;
  apiserverBin: string;
  etcd: string;
  stateDir: string;
  logDir: string;
  ports: PortRange;
  stopGraceMs: number;
}

interface Cluster {
  key: string;
  view: ControlPlaneView;
  port: number | undefined;
  proc: ChildProcess | undefined;
  stopping: Promise<void> | undefined;
  busy: boolean;
  again: boolean;
  /** The port vc-NAME was last checked for (saves two GETs per resync). */
  secretsPort: number | undefined;
  failures: number;
  retryAt: number;
  retryTimer: NodeJS.Timeout | undefined;
}

function log(msg: string, fields: Record<string, unknown> = {}): void {
  const extra = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  process.stdout.write(`${new Date().toISOString()} ${msg}${extra ? ` ${extra}` : ""}\n`);
}

function errText(err: unknown): string {
  if (err instanceof ApiException) {
    const body = err.body as { message?: string } | string | undefined;
    const message = typeof body === "object" && body?.message ? body.message : String(body ?? "");
    return `HTTP ${err.code}: ${message}`.slice(0, 300);
  }
  return err instanceof Error ? err.message : String(err);
}

const isCode = (err: unknown, code: number) => err instanceof ApiException && err.code === code;

function portBindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function rssKiB(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function readyzOnce(port: number, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      { host: "127.0.0.1", port, path: "/readyz", ca, timeout: 1000, agent: false },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

class Simulator {
  private readonly opts: Options;
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly kubeConfig: KubeConfig;
  private readonly clusters = new Map<string, Cluster>();
  private namespaces = makeInformerStub<V1Namespace>();
  private statefulSets = makeInformerStub<V1StatefulSet>();
  private kickTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private shuttingDown = false;

  constructor(opts: Options) {
    this.opts = opts;
    this.kubeConfig = new KubeConfig();
    this.kubeConfig.loadFromFile(opts.kubeconfig);
    this.core = this.kubeConfig.makeApiClient(CoreV1Api);
    this.apps = this.kubeConfig.makeApiClient(AppsV1Api);
  }

  async start(): Promise<void> {
    mkdirSync(join(this.opts.stateDir, "pids"), { recursive: true, mode: 0o700 });
    await this.killLeftovers();
    this.namespaces = this.informer<V1Namespace>("/api/v1/namespaces", `${SIMULATE_LABEL}=true`, () =>
      this.core.listNamespace({ labelSelector: `${SIMULATE_LABEL}=true` }),
    );
    this.statefulSets = this.informer<V1StatefulSet>("/apis/apps/v1/statefulsets", "app=vcluster", () =>
      this.apps.listStatefulSetForAllNamespaces({ labelSelector: "app=vcluster" }),
    );
    await Promise.all([this.namespaces.synced, this.statefulSets.synced]);
    this.resyncTimer = setInterval(() => this.kick(), RESYNC_MS);
    // up.sh waits for this file.
    writeFileSync(join(this.opts.stateDir, "started"), `${process.pid}\n`);
    log("simulator started", { ports: `${this.opts.ports.first}-${this.opts.ports.last}` });
  }

  async shutdown(signal: string): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    log("simulator stopping", { signal, processes: [...this.clusters.values()].filter((c) => c.proc).length });
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    if (this.kickTimer) clearTimeout(this.kickTimer);
    await Promise.allSettled([this.namespaces.stop(), this.statefulSets.stop()]);
    await Promise.allSettled([...this.clusters.values()].map((c) => this.stopProcess(c, "simulator stopping")));
    log("simulator stopped");
  }

  /** makeInformer stops on errors other than 410; restart it with backoff (e.g. across an apiserver restart). */
  private informer<T extends KubernetesObject>(
    path: string,
    labelSelector: string,
    list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>,
  ): InformerLike<T> {
    const informer = makeInformer<T>(
      this.kubeConfig,
      path,
      list as unknown as Parameters<typeof makeInformer<T>>[2],
      labelSelector,
    );
    let stopped = false;
    let backoff = RETRY_MIN_MS;
    let timer: NodeJS.Timeout | undefined;
    const onChange = () => {
      backoff = RETRY_MIN_MS;
      this.kick();
    };
    informer.on("add", onChange);
    informer.on("update", onChange);
    informer.on("delete", onChange);
    let markSynced: () => void = () => {};
    const synced = new Promise<void>((resolve) => {
      markSynced = resolve;
    });
    const begin = () => {
      informer.start().then(() => {
        markSynced();
        onChange();
      }, restart);
    };
    const restart = (err: unknown) => {
      if (stopped) return;
      log("informer stopped; restarting", { path, err: errText(err), retryInMs: backoff });
      timer = setTimeout(begin, backoff);
      backoff = Math.min(backoff * 2, RETRY_MAX_MS);
    };
    informer.on("error", restart);
    begin();
    return {
      synced,
      list: () => informer.list(),
      get: (name, namespace) => informer.get(name, namespace),
      stop: async () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        await informer.stop();
      },
    };
  }

  private kick(): void {
    if (this.shuttingDown || this.kickTimer) return;
    this.kickTimer = setTimeout(() => {
      this.kickTimer = undefined;
      this.reconcileAll();
    }, 20);
  }

  private reconcileAll(): void {
    const seen = new Set<string>();
    for (const sts of this.statefulSets.list()) {
      const view = viewOf(sts);
      if (!view) continue;
      const ns = this.namespaces.get(view.namespace);
      if (ns?.metadata?.labels?.[SIMULATE_LABEL] !== "true") continue;
      const key = `${view.namespace}/${view.stsName}`;
      seen.add(key);
      let cluster = this.clusters.get(key);
      if (!cluster) {
        cluster = {
          key,
          view,
          port: undefined,
          proc: undefined,
          stopping: undefined,
          secretsPort: undefined,
          busy: false,
          again: false,
          failures: 0,
          retryAt: 0,
          retryTimer: undefined,
        };
        this.clusters.set(key, cluster);
      }
      cluster.view = view;
      this.schedule(cluster);
    }
    for (const [key, cluster] of this.clusters) {
      if (seen.has(key)) continue;
      // Gone, or its namespace is no longer simulated: stop the process and forget it.
      if (!cluster.proc && !cluster.busy) {
        if (cluster.retryTimer) clearTimeout(cluster.retryTimer);
        this.clusters.delete(key);
        continue;
      }
      cluster.view = { ...cluster.view, desiredReplicas: 0, readyReplicas: 0 };
      this.schedule(cluster, true);
    }
  }

  private schedule(cluster: Cluster, gone = false): void {
    if (cluster.busy) {
      cluster.again = true;
      return;
    }
    cluster.busy = true;
    this.reconcile(cluster, gone)
      .catch((err: unknown) => {
        cluster.failures++;
        const delay = Math.min(RETRY_MIN_MS * 2 ** (cluster.failures - 1), RETRY_MAX_MS);
        cluster.retryAt = Date.now() + delay;
        log("reconcile failed", { cluster: cluster.key, err: errText(err), retryInMs: delay });
        if (cluster.retryTimer) clearTimeout(cluster.retryTimer);
        cluster.retryTimer = setTimeout(() => this.kick(), delay);
      })
      .finally(() => {
        cluster.busy = false;
        if (gone && !cluster.proc) this.clusters.delete(cluster.key);
        if (cluster.again) {
          cluster.again = false;
          this.kick();
        }
      });
  }

  private async reconcile(cluster: Cluster, gone: boolean): Promise<void> {
    const { view } = cluster;
    const want = !gone && wantsProcess(view);
    if (!want) {
      if (cluster.proc) await this.stopProcess(cluster, gone ? "control plane gone or not simulated" : "0 replicas");
      if (gone) return;
    }
    if (Date.now() < cluster.retryAt) return;
    await this.ensurePort(cluster);
    let certs: Record<string, string> | undefined;
    if (cluster.secretsPort !== cluster.port) {
      certs = await this.ensureSecrets(cluster);
      if (certs) cluster.secretsPort = cluster.port;
    }
    if (want && !cluster.proc) {
      // Read again at every start: NAME-certs is the source of truth, as in vcluster.
      certs ??= await this.ensureSecrets(cluster);
      if (certs) await this.startProcess(cluster, certs);
    }
    cluster.failures = 0;
  }

  /** Keeps the port recorded in slumber.dev/upstream; picks a free one when there is none. */
  private async ensurePort(cluster: Cluster): Promise<void> {
    const recorded = portOf(cluster.view.upstream);
    if (recorded !== undefined) {
      cluster.port = recorded;
      return;
    }
    // None yet, or someone removed or replaced it: (re)write ours.
    cluster.port ??= await this.freePort(cluster.key);
    await this.annotate(cluster, cluster.port);
  }

  private takenPorts(except: string): Set<number> {
    const taken = new Set<number>();
    for (const sts of this.statefulSets.list()) {
      const p = portOf(sts.metadata?.annotations?.[UPSTREAM_ANNOTATION]);
      if (p !== undefined && `${sts.metadata?.namespace}/${sts.metadata?.name}` !== except) taken.add(p);
    }
    for (const c of this.clusters.values()) if (c.key !== except && c.port !== undefined) taken.add(c.port);
    return taken;
  }

  private async freePort(key: string): Promise<number> {
    for (const port of portCandidates(key, this.opts.ports, this.takenPorts(key))) {
      if (await portBindable(port)) return port;
    }
    throw new Error(`no free port left in ${this.opts.ports.first}-${this.opts.ports.last}`);
  }

  private async annotate(cluster: Cluster, port: number): Promise<void> {
    const { namespace, stsName } = cluster.view;
    await this.apps.patchNamespacedStatefulSet(
      {
        namespace,
        name: stsName,
        body: { metadata: { annotations: { [UPSTREAM_ANNOTATION]: upstreamFor(port) } } },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    cluster.view = { ...cluster.view, upstream: upstreamFor(port) };
    log("upstream recorded", { cluster: cluster.key, upstream: upstreamFor(port) });
  }

  private async readSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ namespace, name });
    } catch (err) {
      if (isCode(err, 404)) return undefined;
      throw err;
    }
  }

  /**
   * NAME-certs (created once, then the source of truth, as in vcluster) and vc-NAME (rewritten when
   * the port changes). Returns the certificates, or undefined when NAME-certs lacks a key we need.
   */
  private async ensureSecrets(cluster: Cluster): Promise<Record<string, string> | undefined> {
    const { namespace, name } = cluster.view;
    const port = cluster.port!;
    const labels = { app: "vcluster", "vcluster-name": name };
    const certsName = `${name}-certs`;
    let certs: Record<string, string>;
    const existing = await this.readSecret(namespace, certsName);
    if (existing) {
      certs = decode(existing);
      const missing = REQUIRED_CERT_KEYS.filter((k) => !certs[k]);
      if (missing.length > 0) {
        log("Secret lacks keys; not starting", { secret: `${namespace}/${certsName}`, missing });
        return undefined;
      }
    } else {
      const t0 = Date.now();
      certs = await generateCerts(this.opts.stateDir, namespace, name, port);
      try {
        await this.core.createNamespacedSecret({
          namespace,
          body: { metadata: { name: certsName, labels }, type: "Opaque", stringData: certs },
        });
        log("certificates created", { secret: `${namespace}/${certsName}`, ms: Date.now() - t0 });
      } catch (err) {
        if (!isCode(err, 409)) throw err;
        return this.ensureSecrets(cluster);
      }
    }
    const server = upstreamFor(port);
    const adminCrt = certs["admin.crt"];
    const adminKey = certs["admin.key"];
    if (adminCrt && adminKey) {
      const config = kubeconfigYaml(server, certs["ca.crt"]!, adminCrt, adminKey);
      const vcName = `vc-${name}`;
      const vc = await this.readSecret(namespace, vcName);
      const current = vc?.data?.config ? Buffer.from(vc.data.config, "base64").toString("utf8") : undefined;
      if (current !== config) {
        const body: V1Secret = {
          metadata: { name: vcName, labels, resourceVersion: vc?.metadata?.resourceVersion },
          type: "Opaque",
          stringData: {
            config,
            "certificate-authority": certs["ca.crt"]!,
            "client-certificate": adminCrt,
            "client-key": adminKey,
          },
        };
        if (vc) await this.core.replaceNamespacedSecret({ namespace, name: vcName, body });
        else await this.core.createNamespacedSecret({ namespace, body });
        log(vc ? "kubeconfig Secret updated" : "kubeconfig Secret created", {
          secret: `${namespace}/${vcName}`,
          server,
        });
      }
      if (certs["admin.conf"] && !certs["admin.conf"].includes(`server: ${server}\n`)) {
        await this.core.patchNamespacedSecret(
          { namespace, name: certsName, body: { stringData: { "admin.conf": config } } },
          setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
        );
      }
    }
    return certs;
  }

  private pidFile(cluster: Cluster): string {
    return join(this.opts.stateDir, "pids", `${cluster.view.namespace}_${cluster.view.stsName}.pid`);
  }

  private async startProcess(cluster: Cluster, certs: Record<string, string>): Promise<void> {
    const { namespace, name } = cluster.view;
    let port = cluster.port!;
    if (!(await portBindable(port))) {
      // Something else took our port while the cluster slept: move, and tell everyone.
      const moved = await this.freePort(cluster.key);
      log("port in use by another process; moving", { cluster: cluster.key, from: port, to: moved });
      cluster.port = port = moved;
      await this.annotate(cluster, port);
      await this.ensureSecrets(cluster);
      cluster.secretsPort = port;
    }
    const dir = join(this.opts.stateDir, namespace, name);
    const pki = join(dir, "pki");
    mkdirSync(pki, { recursive: true, mode: 0o700 });
    for (const key of REQUIRED_CERT_KEYS) writeFileSync(join(pki, key), certs[key]!, { mode: 0o600 });
    const args = apiserverArgs({ etcd: this.opts.etcd, prefix: `/sim/${namespace}/${name}`, port, pki });
    const logFile = join(this.opts.logDir, `vcluster-${namespace}-${name}.log`);
    const fd = openSync(logFile, "a");
    writeFileSync(fd, `\n==== ${new Date().toISOString()} starting kube-apiserver for ${cluster.key} ====\n`);
    const t0 = performance.now();
    const proc = spawn(this.opts.apiserverBin, args, { stdio: ["ignore", fd, fd] });
    closeSync(fd);
    const pid = proc.pid;
    if (pid === undefined) throw new Error(`could not start ${this.opts.apiserverBin}`);
    cluster.proc = proc;
    writeFileSync(this.pidFile(cluster), `${pid}\n`);
    log("kube-apiserver started", { cluster: cluster.key, pid, upstream: upstreamFor(port), log: logFile });
    proc.once("exit", (code, signal) => {
      if (cluster.proc === proc) cluster.proc = undefined;
      rmSync(this.pidFile(cluster), { force: true });
      if (cluster.stopping || this.shuttingDown) return;
      cluster.failures++;
      const delay = Math.min(RETRY_MIN_MS * 2 ** (cluster.failures - 1), RETRY_MAX_MS);
      cluster.retryAt = Date.now() + delay;
      log("kube-apiserver exited unexpectedly; restarting", {
        cluster: cluster.key,
        code,
        signal,
        retryInMs: delay,
        log: logFile,
      });
      cluster.retryTimer = setTimeout(() => this.kick(), delay);
    });
    void this.measureReady(cluster, proc, port, certs["ca.crt"]!, t0);
  }

  /** For the log only: time to /readyz and RSS then. */
  private async measureReady(
    cluster: Cluster,
    proc: ChildProcess,
    port: number,
    ca: string,
    t0: number,
  ): Promise<void> {
    while (cluster.proc === proc && performance.now() - t0 < 120_000) {
      if (await readyzOnce(port, ca)) {
        const rss = proc.pid ? rssKiB(proc.pid) : undefined;
        log("kube-apiserver ready", {
          cluster: cluster.key,
          pid: proc.pid,
          readyMs: Math.round(performance.now() - t0),
          rssMiB: rss ? Math.round(rss / 1024) : undefined,
        });
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private stopProcess(cluster: Cluster, why: string): Promise<void> {
    const proc = cluster.proc;
    if (!proc) return Promise.resolve();
    if (cluster.stopping) return cluster.stopping;
    const pid = proc.pid;
    log("stopping kube-apiserver", { cluster: cluster.key, pid, why, rssMiB: pid ? kib(rssKiB(pid)) : undefined });
    cluster.stopping = new Promise<void>((resolve) => {
      const t0 = Date.now();
      const killer = setTimeout(() => {
        log("kube-apiserver did not stop in time; killing", { cluster: cluster.key, pid });
        proc.kill("SIGKILL");
      }, this.opts.stopGraceMs);
      proc.once("exit", () => {
        clearTimeout(killer);
        cluster.stopping = undefined;
        log("kube-apiserver stopped", { cluster: cluster.key, pid, ms: Date.now() - t0 });
        resolve();
      });
      if (proc.exitCode !== null || proc.signalCode !== null) {
        clearTimeout(killer);
        cluster.stopping = undefined;
        resolve();
        return;
      }
      proc.kill("SIGTERM");
    });
    return cluster.stopping;
  }

  /**
   * Processes left by a simulator that was killed without cleaning up: stop them (pid checked against
   * the binary) and wait until they are gone, so their ports are free for the new ones.
   */
  private async killLeftovers(): Promise<void> {
    const dir = join(this.opts.stateDir, "pids");
    for (const file of readdirSync(dir)) {
      const path = join(dir, file);
      const pid = Number(readFileSync(path, "utf8").trim());
      let argv: string[] = [];
      try {
        argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      } catch {
        // gone already
      }
      if (pid > 0 && argv[0] === this.opts.apiserverBin && argv.some((a) => a.startsWith("--etcd-prefix=/sim/"))) {
        log("stopping a kube-apiserver left by an earlier simulator", { pid });
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
        for (let i = 0; i < 100 && existsSync(`/proc/${pid}/cmdline`) && !isZombie(pid); i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      unlinkSync(path);
    }
  }
}

interface InformerLike<T> {
  synced: Promise<void>;
  list(): ReadonlyArray<T>;
  get(name: string, namespace?: string): T | undefined;
  stop(): Promise<void>;
}

function makeInformerStub<T>(): InformerLike<T> {
  return { synced: Promise.resolve(), list: () => [], get: () => undefined, stop: async () => {} };
}

function isZombie(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] === "Z";
  } catch {
    return true;
  }
}

function decode(secret: V1Secret): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(secret.data ?? {})) out[k] = Buffer.from(v, "base64").toString("utf8");
  return out;
}

function kib(v: number | undefined): number | undefined {
  return v === undefined ? undefined : Math.round(v / 1024);
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: "string" },
      "apiserver-bin": { type: "string" },
      etcd: { type: "string" },
      "state-dir": { type: "string" },
      "log-dir": { type: "string" },
      ports: { type: "string", default: "17000-18999" },
      "stop-grace-seconds": { type: "string", default: "5" },
    },
    strict: true,
  });
  const need = (flag: string, v: string | undefined): string => {
    if (!v) throw new Error(`--${flag} is required`);
    return v;
  };
  const apiserverBin = need("apiserver-bin", values["apiserver-bin"]);
  if (!existsSync(apiserverBin)) throw new Error(`--apiserver-bin ${apiserverBin} does not exist`);
  const grace = Number(values["stop-grace-seconds"]);
  if (!Number.isFinite(grace) || grace < 0) throw new Error("--stop-grace-seconds must be a number ≥ 0");
  return {
    kubeconfig: need("kubeconfig", values.kubeconfig),
    apiserverBin,
    etcd: need("etcd", values.etcd),
    stateDir: need("state-dir", values["state-dir"]),
    logDir: need("log-dir", values["log-dir"]),
    ports: parsePortRange(values.ports!),
    stopGraceMs: grace * 1000,
  };
}

async function main(): Promise<void> {
  let opts: Options;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`simulator: ${errText(err)}\n`);
    process.exit(2);
  }
  const sim = new Simulator(opts);
  let exiting = false;
  const stop = (signal: string) => {
    if (exiting) return;
    exiting = true;
    sim.shutdown(signal).finally(() => process.exit(0));
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  await sim.start();
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`simulator: ${errText(err)}\n`);
    process.exit(1);
  });
}
